import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import type { Logger } from '../../../logger.js';
import { statusCodeOf } from '../docker-sandbox.js';

/** Where the proxy's files live in its image. */
export const PROXY_DIR = '/opt/telecoder-egress-proxy';
export const PROXY_IMAGE_LABEL = 'telecoder.egress-proxy-image';

export interface ProxyImageOptions {
  docker: Dockerode;
  /** The sandbox image: the proxy runs on its `node`, so no other image has to be pulled. */
  sandboxImage: string;
  /** sandbox/egress-proxy: the proxy's modules. */
  sourceDir: string;
  logger?: Logger | undefined;
}

/**
 * Makes sure the proxy's image exists and answers its name: the sandbox image plus the proxy's
 * modules and ipaddr.js, built through the Docker API (so it works where the server itself runs in
 * a container). The tag is a hash of the sandbox image and the files, so a change to either makes
 * a new image and an unchanged one is built once.
 */
export async function ensureProxyImage(options: ProxyImageOptions): Promise<string> {
  const { docker } = options;
  const files = await proxyFiles(options.sourceDir);
  const base = await docker.getImage(options.sandboxImage).inspect();
  const hash = createHash('sha256').update(base.Id);
  for (const [name, content] of files) hash.update(`\0${name}\0`).update(content);
  const tag = `telecoder-egress-proxy:${hash.digest('hex').slice(0, 16)}`;
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }

  options.logger?.info({ image: tag }, 'building the egress proxy image');
  const dockerfile = [
    `FROM ${options.sandboxImage}`,
    `COPY egress-proxy ${PROXY_DIR}`,
    `LABEL ${PROXY_IMAGE_LABEL}=1`,
    // Never root; the container also sets its user, this is for anyone running the image by hand.
    'USER 65534:65534',
  ].join('\n');
  const context = tarStream.pack();
  context.entry({ name: 'Dockerfile', mode: 0o644 }, `${dockerfile}\n`);
  for (const [name, content] of files) context.entry({ name: `egress-proxy/${name}`, mode: 0o644 }, content);
  context.finalize();
  let output: NodeJS.ReadableStream;
  try {
    output = await docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, rm: true, forcerm: true });
  } catch (error) {
    throw new Error(`Building the egress proxy image ${tag} from ${options.sandboxImage} failed: ${messageOf(error)}`, { cause: error });
  }
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(output, (error: Error | null, events: Array<{ error?: string }>) => {
      const failed = error?.message ?? events.find((event) => event.error)?.error;
      if (failed) reject(new Error(`Building the egress proxy image ${tag} from ${options.sandboxImage} failed: ${failed}`));
      else resolve();
    });
  });
  await removeOlderImages(docker, tag);
  return tag;
}

/** Earlier proxy images (another version's files, an older sandbox image); one still in use stays. */
async function removeOlderImages(docker: Dockerode, current: string): Promise<void> {
  const images = await docker.listImages({ filters: { label: [PROXY_IMAGE_LABEL] } }).catch(() => []);
  for (const image of images) {
    if (image.RepoTags?.includes(current)) continue;
    await docker.getImage(image.Id).remove().catch(() => undefined);
  }
}

/** The proxy's modules and the one library they import, keyed by their path under the proxy's directory. */
async function proxyFiles(sourceDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await readdir(sourceDir)).filter((file) => file.endsWith('.mjs')).sort()) {
    files.set(name, await readFile(join(sourceDir, name)));
  }
  if (!files.has('main.mjs')) throw new Error(`The egress proxy's files are missing from ${sourceDir} (no main.mjs); reinstall TeleCoder.`);
  // ipaddr.js as TeleCoder itself has it installed (the version its tests ran against).
  const ipaddr = dirname(createRequire(import.meta.url).resolve('ipaddr.js/package.json'));
  for (const name of ['package.json', 'LICENSE', 'lib/ipaddr.js']) {
    files.set(`node_modules/ipaddr.js/${name}`, await readFile(join(ipaddr, name)));
  }
  return files;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
