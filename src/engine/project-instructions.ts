import { runGit } from '../git/run-git.js';
import type { TaskOptions } from '../model/session.js';

/** Files in which a repository tells coding agents how to work on it, in order of preference. */
export const PROJECT_INSTRUCTION_FILES = ['AGENTS.md', 'CLAUDE.md'] as const;
const MAX_INSTRUCTIONS_BYTES = 20_000;

/**
 * The repository's own agent instructions (AGENTS.md, else CLAUDE.md) at a commit of a server-side
 * repository (a mirror or a clone). Read as a git blob, never through the file system: a symlink
 * named AGENTS.md would otherwise make the server read one of its own files into the prompt.
 */
export async function readProjectInstructions(repository: { gitDir: string; commit: string }): Promise<{ file: string; text: string } | undefined> {
  const options = { env: { GIT_DIR: repository.gitDir } };
  for (const file of PROJECT_INSTRUCTION_FILES) {
    const { stdout: entry } = await runGit(['ls-tree', repository.commit, '--', file], options);
    // "<mode> <type> <object>\t<path>": only a regular file counts (no symlink 120000, no tree).
    const match = /^(100644|100755) blob ([0-9a-f]+)\t/.exec(entry);
    if (!match) continue;
    const { stdout } = await runGit(['cat-file', 'blob', match[2]!], options);
    const text = stdout.length > MAX_INSTRUCTIONS_BYTES ? `${stdout.slice(0, MAX_INSTRUCTIONS_BYTES)}\n[… cut at ${MAX_INSTRUCTIONS_BYTES} characters]` : stdout;
    if (text.trim()) return { file, text };
  }
  return undefined;
}

/** The agent's extra system instructions: the project's own file and the repository configuration. */
export function agentInstructions(project: { file: string; text: string } | undefined, options: TaskOptions): string | undefined {
  const parts: string[] = [];
  if (project) {
    parts.push(
      `The repository's own instructions for coding agents, from ${project.file}. Follow them where they apply to the task:\n` +
        `<project_instructions file="${project.file}">\n${project.text.replaceAll('</project_instructions', '<\\/project_instructions')}\n</project_instructions>`,
    );
  }
  if (options.instructions?.trim()) {
    parts.push(`Instructions from the repository's TeleCoder configuration:\n${options.instructions.trim()}`);
  }
  return parts.length > 0 ? parts.join('\n\n') : undefined;
}
