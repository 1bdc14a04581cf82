import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerRuntime } from '../../src/sandbox/docker/docker-runtime.js';
import { packageRoot } from '../../src/server/package-root.js';

/** The imported Debian base that exists on test machines (there is no registry to pull from). */
export const TEST_BASE_IMAGE = 'telecoder-base:bookworm';

/** The sandbox/ directory the image is built from. */
export const SANDBOX_CONTEXT_DIR = join(packageRoot(), 'sandbox');

export function testImageName(): string {
  return process.env.TELECODER_TEST_IMAGE?.trim() || 'telecoder-sandbox:test';
}

let pending: Promise<string> | undefined;

/** This machine's own added CAs (a TLS-inspecting egress proxy), which the image must trust too. */
function localCaCerts(): { caCertsFile?: string } {
  const dir = '/usr/local/share/ca-certificates';
  const files = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.crt')) : [];
  if (files.length === 0) return {};
  const bundle = join(tmpdir(), `telecoder-test-ca-${process.pid}.pem`);
  writeFileSync(bundle, files.map((name) => readFileSync(join(dir, name), 'utf8')).join('\n'));
  return { caCertsFile: bundle };
}

/**
 * Returns the sandbox image tests should run, building `telecoder-sandbox:test` from sandbox/
 * when it is missing (the first build takes a few minutes: give the calling hook a generous
 * timeout). Set TELECODER_TEST_IMAGE to use an image that already exists instead.
 */
export async function ensureTestImage(): Promise<string> {
  pending ??= (async () => {
    const image = testImageName();
    const runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR, ...localCaCerts() });
    await runtime.ping();
    await runtime.ensureImage();
    return image;
  })();
  try {
    return await pending;
  } catch (error) {
    pending = undefined;
    throw error;
  }
}
