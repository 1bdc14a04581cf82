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

/**
 * Returns the sandbox image tests should run, building `telecoder-sandbox:test` from sandbox/
 * when it is missing (the first build takes a few minutes: give the calling hook a generous
 * timeout). Set TELECODER_TEST_IMAGE to use an image that already exists instead.
 */
export async function ensureTestImage(): Promise<string> {
  pending ??= (async () => {
    const image = testImageName();
    const runtime = new DockerRuntime({ image, baseImage: TEST_BASE_IMAGE, contextDir: SANDBOX_CONTEXT_DIR });
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
