import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface TranspiledSources {
  /** The build's root: package.json, sandbox/ and node_modules/ beside src/, like an install. */
  root: string;
  /** `node <cli> serve` runs the server the way bin/telecoder.js does. */
  cli: string;
  /** The JavaScript file built from a source file, e.g. `module('src/store/sqlite/sqlite-session-store.ts')`. */
  module(source: string): string;
}

/**
 * A private build of src/ as it is now, for tests that run TeleCoder in a child process (to kill
 * it with SIGKILL or send it SIGTERM). bin/telecoder.js runs dist/, which is only as fresh as the
 * last `npm run build` and which someone else may be rebuilding at that moment. Each file is
 * transpiled on its own (no type check: `npx tsc` does that), which takes a second or two.
 */
export function transpileSources(outDir: string): TranspiledSources {
  const root = resolve(outDir);
  const sources = readdirSync(join(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(REPO_ROOT, 'src', file));
  for (const source of sources) {
    const output = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    }).outputText;
    const target = join(root, relative(REPO_ROOT, source)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output);
  }
  // What the code reads from its package root at run time (packageRoot() looks for both files).
  cpSync(join(REPO_ROOT, 'src/pipeline/prompts'), join(root, 'src/pipeline/prompts'), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'sandbox'), join(root, 'sandbox'), 'dir');
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  const cli = join(root, 'telecoder.js');
  writeFileSync(cli, "import { main } from './src/cli/main.js';\nprocess.exitCode = await main(process.argv);\n");
  return { root, cli, module: (source) => join(root, source).replace(/\.ts$/, '.js') };
}
