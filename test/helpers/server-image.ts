import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import tarFs from 'tar-fs';
import { packageRoot } from '../../src/server/package-root.js';
import { TEST_BASE_IMAGE } from './sandbox-image.js';

const run = promisify(execFile);

/** The Dockerfile, relative to the repository root (the build context). */
export const SERVER_DOCKERFILE = 'docker/server.Dockerfile';

/**
 * Everything docker/server.Dockerfile may COPY. The build context is exactly these paths, so a
 * COPY of anything else fails the build instead of going unnoticed by the cache key below.
 */
const INPUTS = [SERVER_DOCKERFILE, 'package.json', 'package-lock.json', 'tsconfig.json', 'app.yml', 'bin', 'src', 'sandbox', 'web'];

/** Marks the images this helper built, so that older ones can be removed. */
const TEST_LABEL = 'telecoder.server-test-image';

export interface ServerImage {
  /** `telecoder-server:test-<hash of the inputs>`. */
  image: string;
  /** Milliseconds the build took; 0 when an image with the same inputs already existed. */
  buildMs: number;
}

function filesUnder(root: string, path: string): string[] {
  const full = join(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full)
    .sort()
    .flatMap((name) => filesUnder(root, join(path, name)));
}

/** This machine's own added CAs (a TLS-inspecting egress proxy), which the build must trust too. */
function localCaCerts(): string {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((name) => name.endsWith('.crt'))
    .sort()
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
}

async function imageExists(image: string): Promise<boolean> {
  try {
    await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
    return true;
  } catch {
    return false;
  }
}

/** `docker build` with the inputs as a tar on stdin; rejects with the build's last output lines. */
function build(root: string, image: string, args: Record<string, string>): Promise<void> {
  const argv = ['build', '-q', '-f', SERVER_DOCKERFILE, '-t', image, '--label', `${TEST_LABEL}=1`];
  for (const [key, value] of Object.entries(args)) argv.push('--build-arg', `${key}=${value}`);
  argv.push('-');
  return new Promise((resolve, reject) => {
    const child = spawn('docker', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-8000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`building ${image} from ${SERVER_DOCKERFILE} failed (exit ${code}); run "docker build -f ${SERVER_DOCKERFILE} --build-arg BASE_IMAGE=${args.BASE_IMAGE} ." to see the whole build:\n${output}`));
    });
    const context = tarFs.pack(root, { entries: INPUTS }) as unknown as NodeJS.ReadableStream;
    context.on('error', (error) => child.kill() && reject(error));
    context.pipe(child.stdin);
  });
}

let pending: Promise<ServerImage> | undefined;

/**
 * The server image built from docker/server.Dockerfile on the Debian base the tests have
 * (`telecoder-base:bookworm`, no registry needed), tagged by a hash of everything that goes into
 * it: the inputs' paths and contents, the base image's id and the added CAs. Reruns with unchanged
 * inputs reuse the image at once; a change builds anew (Docker's layer cache keeps the dependency
 * layers while package-lock.json is unchanged) and removes the older test images. The first build
 * takes several minutes: give the calling hook a generous timeout.
 */
export function ensureServerImage(): Promise<ServerImage> {
  pending ??= (async () => {
    const root = packageRoot();
    const { stdout: baseId } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', TEST_BASE_IMAGE]).catch((error: unknown) => {
      throw new Error(`the base image ${TEST_BASE_IMAGE} is missing; make it as .ci/run does (debootstrap + docker import): ${String(error)}`);
    });
    const caCerts = localCaCerts();
    const hash = createHash('sha256').update(`${baseId.trim()}\0${caCerts}\0`);
    for (const file of INPUTS.flatMap((input) => filesUnder(root, input))) {
      hash.update(`${file}\0`).update(readFileSync(join(root, file))).update('\0');
    }
    const image = `telecoder-server:test-${hash.digest('hex').slice(0, 16)}`;
    if (await imageExists(image)) return { image, buildMs: 0 };
    const started = Date.now();
    await build(root, image, { BASE_IMAGE: TEST_BASE_IMAGE, ...(caCerts ? { EXTRA_CA_CERTS: caCerts } : {}) });
    const buildMs = Date.now() - started;
    const { stdout } = await run('docker', ['image', 'ls', '--filter', `label=${TEST_LABEL}=1`, '--format', '{{.Repository}}:{{.Tag}}']);
    const older = stdout.split('\n').map((line) => line.trim()).filter((line) => line && line !== image && line.startsWith('telecoder-server:test-'));
    if (older.length > 0) await run('docker', ['image', 'rm', ...older]).catch(() => undefined);
    return { image, buildMs };
  })();
  pending.catch(() => {
    pending = undefined;
  });
  return pending;
}
