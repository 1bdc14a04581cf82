import { Writable, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { execExitCode } from './exec-exit-code.js';

export interface ExecWithInputOptions {
  docker: Dockerode;
  container: Dockerode.Container;
  /** Run as is: wrap it in `timeout` yourself so the command dies with the deadline. */
  argv: string[];
  /** Written to the command's stdin, then stdin is closed. */
  input: Buffer;
  user: string;
  /** The server stops waiting this long after the start (the stream is then cut). */
  timeoutMs: number;
}

export interface ExecWithInputResult {
  /** Undefined when Docker could not say (the container went away, or the deadline passed). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Enough for any error message; a command run this way is not meant to print much. */
const MAX_OUTPUT_BYTES = 64 * 1024;

class SmallCollector extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.size < MAX_OUTPUT_BYTES) this.chunks.push(chunk.subarray(0, MAX_OUTPUT_BYTES - this.size));
    this.size += chunk.length;
    callback();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * One `docker exec` with stdin attached (a hijacked connection): the input is written and stdin
 * closed, and the result comes back once the command has ended. Docker errors from creating or
 * starting the exec are thrown as they are, for the caller to translate.
 */
export async function execWithInput(options: ExecWithInputOptions): Promise<ExecWithInputResult> {
  const { docker, container } = options;
  const exec = await container.exec({
    Cmd: options.argv,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: options.user,
    WorkingDir: '/',
  });
  const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
  const stdout = new SmallCollector();
  const stderr = new SmallCollector();
  docker.modem.demuxStream(stream, stdout, stderr);
  // A command that ends before reading all of its input makes the write fail (EPIPE); its exit
  // code, read below, says what happened, so the stream error itself is not the result.
  stream.on('error', () => undefined);

  let timer: NodeJS.Timeout | undefined;
  const outcome = await new Promise<'ended' | 'timeout'>((resolve) => {
    stream.once('end', () => resolve('ended'));
    stream.once('close', () => resolve('ended'));
    stream.once('error', () => resolve('ended'));
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
    stream.end(options.input);
  });
  clearTimeout(timer);
  if (outcome === 'timeout') {
    stream.destroy();
    return { exitCode: undefined, stdout: stdout.text(), stderr: stderr.text(), timedOut: true };
  }
  return { exitCode: await execExitCode(exec), stdout: stdout.text(), stderr: stderr.text(), timedOut: false };
}
