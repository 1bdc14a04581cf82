import type { ApiClient } from '../api-client.js';
import type { CliIo } from '../cli-io.js';

/** What every command gets: the API client and somewhere to write. */
export interface CommandContext {
  client: ApiClient;
  io: CliIo;
  out(line: string): void;
  err(line: string): void;
}
