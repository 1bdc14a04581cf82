/**
 * Whether Docker refused a container because its storage driver cannot limit the writable layer's
 * size (`--storage-opt size`): overlay2 needs xfs mounted with pquota, and drivers like vfs or
 * aufs have no quota at all. Any other create error is a real one.
 */
export function isStorageQuotaUnsupported(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /storage-opt|storage opt|pquota|quota|size option/i.test(message);
}
