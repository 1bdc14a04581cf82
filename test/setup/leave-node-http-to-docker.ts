/**
 * nock mocks GitHub's API, which Octokit reaches with fetch. nock also hooks node:http, and with
 * that hook in place Docker's streamed unix-socket requests (exec, archives) intermittently fail
 * with EPIPE. Before nock loads, its node:http interceptor is made inert, so nock sees fetch only
 * and Docker traffic goes straight to the engine. Runs before every test file (vitest setupFiles).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const interceptors = require('@mswjs/interceptors/presets/node') as { constructor: { name: string }; apply(): void }[];
for (const interceptor of interceptors) {
  if (interceptor.constructor.name === 'ClientRequestInterceptor') interceptor.apply = () => undefined;
}
