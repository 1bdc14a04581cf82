import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';

function docker(args: string[]): string[] {
  return execFileSync('docker', args, { encoding: 'utf8' }).split('\n').map((line) => line.trim()).filter(Boolean);
}

/** Ids of containers (running or not) carrying this label, e.g. `telecoder.session=abc`. */
export function containersLabelled(label: string): string[] {
  return docker(['ps', '-aq', '--filter', `label=${label}`]);
}

/**
 * Full ids (as the server and its store know them) of the containers that match every `docker ps`
 * filter, e.g. `label=telecoder.warm=true` or `id=…`: running ones, or all of them with `all`.
 */
export function containersWhere(filters: string[], options: { all?: boolean } = {}): string[] {
  return docker(['ps', '-q', '--no-trunc', ...(options.all ? ['-a'] : []), ...filters.flatMap((filter) => ['--filter', filter])]);
}

/** A container's name as `docker ps` shows it (no leading slash). */
export function containerName(id: string): string {
  return docker(['inspect', '--format', '{{.Name}}', id])[0]!.replace(/^\//, '');
}

/** Ids of a session's containers (running or not). */
export function containersOf(sessionId: string): string[] {
  return containersLabelled(`telecoder.session=${sessionId}`);
}

/** Removes a session's containers, whatever their state; one already going away is no failure. */
export function removeSessionContainers(sessionId: string): void {
  for (const id of containersOf(sessionId)) {
    try {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    } catch {
      // Removed meanwhile (by the server, say).
    }
  }
}

/** Names of Docker networks carrying this label. */
export function networksLabelled(label: string): string[] {
  return docker(['network', 'ls', '-q', '--filter', `label=${label}`]);
}

/** The instance id a TeleCoder data dir's database holds (read without the store, from outside). */
export function instanceIdOf(dataDir: string): string {
  const db = new Database(join(dataDir, 'telecoder.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'instance_id'").get();
    if (!row) throw new Error(`${dataDir}/telecoder.db holds no instance id`);
    return row.value;
  } finally {
    db.close();
  }
}

/**
 * Removes what a test's TeleCoder instance leaves on the shared engine on purpose (dependency
 * cache volumes, workspace snapshot images) and anything it leaked, so tests do not pile up.
 */
export function removeInstanceResources(instanceId: string): void {
  const label = `telecoder.instance=${instanceId}`;
  const containers = containersLabelled(label);
  if (containers.length > 0) docker(['rm', '-f', ...containers]);
  const volumes = docker(['volume', 'ls', '-q', '--filter', `label=${label}`]);
  if (volumes.length > 0) docker(['volume', 'rm', '-f', ...volumes]);
  const images = docker(['images', '-q', '--filter', `label=${label}`]);
  if (images.length > 0) docker(['rmi', '-f', ...new Set(images)]);
}
