import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (where package.json and sandbox/ live), from source or dist. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sandbox'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('telecoder: cannot find the package root (package.json beside sandbox/); reinstall TeleCoder');
}
