import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import Dockerode from 'dockerode';
import type { Logger } from '../../logger.js';
import { statusCodeOf } from './docker-sandbox.js';
import { INSTANCE_LABEL, MANAGED_LABEL, SESSION_LABEL } from './docker-runtime.js';

/**
 * The instance label TeleCoder used before instance ids were kept in the database: a hash of the
 * data dir's path, which two deployments that both use `/data` share.
 */
export function legacyInstanceLabel(dataDir: string): string {
  return createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12);
}

export interface RemoveLegacySandboxesOptions {
  /** Default: `new Dockerode()`, the engine DockerRuntime talks to by default. */
  docker?: Dockerode;
  dataDir: string;
  /** True for a session id stored in this deployment's database. */
  isOwnSession(sessionId: string): boolean;
  logger: Logger;
}

/**
 * After an upgrade, the containers an older TeleCoder made carry the legacy label, which the
 * start-up sweep (by instance id) no longer matches, so a crash just before the upgrade would
 * leave them forever. Removes those whose session is in this database and no other: a neighbour
 * sharing the legacy label has session ids of its own. Returns the ids of the removed containers.
 */
export async function removeLegacySandboxes(options: RemoveLegacySandboxesOptions): Promise<string[]> {
  const docker = options.docker ?? new Dockerode();
  const label = [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${legacyInstanceLabel(options.dataDir)}`];
  const containers = await docker.listContainers({ all: true, filters: { label } });
  const removed: string[] = [];
  for (const container of containers) {
    const sessionId = container.Labels?.[SESSION_LABEL];
    if (!sessionId || !options.isOwnSession(sessionId)) continue;
    options.logger.info({ container: container.Id, session: sessionId }, 'removing a sandbox an earlier TeleCoder version left');
    try {
      await docker.getContainer(container.Id).remove({ force: true });
      removed.push(container.Id);
    } catch (error) {
      // Gone already, or being removed by Docker: either way it is going.
      if (statusCodeOf(error) !== 404 && statusCodeOf(error) !== 409) throw error;
    }
  }
  return removed;
}
