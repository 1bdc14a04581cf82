import { createActivityLine } from '../activity-line.js';
import type { SessionJson } from '../api-client.js';
import { UsageError } from '../cli-io.js';
import { followEvents } from '../follow-events.js';
import { activityLabel, formatEvent } from '../format-event.js';
import { resolveRepoArgument, splitTrailingRepo } from '../repo-argument.js';
import type { CommandContext } from './command-context.js';

export interface RunOptions {
  repo?: string;
  agent?: string;
  model?: string;
  json?: boolean;
}

/** The shell's code for "ended by Ctrl-C" (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * `telecoder run <prompt> --repo <repo>`: creates a session, streams its events, and ends with
 * the PR URL, the pushed branch or the text answer. Exit code 0 when the session completed;
 * 130 after Ctrl-C, which leaves the session running on the server (and says so).
 */
export async function runCommand(context: CommandContext, words: string[], options: RunOptions): Promise<number> {
  const { client, io, out, err } = context;
  const split = splitTrailingRepo(words.join(' '));
  const repoText = options.repo ?? split.repo;
  if (!repoText) {
    throw new UsageError('say which repository to work on: --repo owner/name, or --repo with a path to a local git repository');
  }
  if (split.prompt === '') throw new UsageError('the prompt is empty: say what TeleCoder should do');
  const repo = resolveRepoArgument(repoText, io.cwd ?? process.cwd());

  const interrupt = new AbortController();
  const stopListening = io.onInterrupt?.(() => interrupt.abort()) ?? (() => undefined);
  const activity = createActivityLine({ stream: io.stderr, enabled: Boolean(io.stderr.isTTY) && !options.json });
  const print = (line: string) => {
    activity.clear();
    out(line);
  };
  let id: string | undefined;
  try {
    const created = await client.createSession(
      {
        repo,
        prompt: split.prompt,
        ...(options.agent ? { agent: options.agent } : {}),
        ...(options.model ? { model: options.model } : {}),
      },
      { signal: interrupt.signal },
    );
    id = created.id;
    if (options.json) print(JSON.stringify(created));
    else print(`Session ${created.id} started on ${repo} (branch ${created.branch})`);

    await followEvents({
      client,
      sessionId: created.id,
      signal: interrupt.signal,
      ...(io.streamIdleMs ? { idleMs: io.streamIdleMs } : {}),
      onEvent(event) {
        if (options.json) {
          print(JSON.stringify(event));
          return;
        }
        const line = formatEvent(event);
        if (line !== undefined) print(line);
        activity.waitFor(activityLabel(event));
      },
    });
    activity.stop();
    const session = await client.getSession(created.id, { signal: interrupt.signal });
    if (options.json) out(JSON.stringify(session));
    return reportOutcome(context, session, Boolean(options.json));
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    activity.stop();
    // Ctrl-C ends the CLI, not the work: the session goes on unless it is stopped.
    if (id) err(`interrupted: session ${id} is still running; \`telecoder stop ${id}\` to stop it, \`telecoder logs ${id} --follow\` to watch it again`);
    else err('interrupted before the server confirmed the session; `telecoder list` shows whether it was created');
    return INTERRUPTED_EXIT_CODE;
  } finally {
    activity.stop();
    stopListening();
  }
}

/** The last words of `run`: the outcome on stdout, or the reason on stderr. */
export function reportOutcome(context: Pick<CommandContext, 'out' | 'err'>, session: SessionJson, json: boolean): number {
  const { out, err } = context;
  switch (session.status) {
    case 'complete': {
      if (json) return 0;
      const result = session.result;
      const prUrl = session.pr_url ?? result?.pr_url;
      if (prUrl) out(`${result?.draft ? 'Draft PR open' : 'PR ready'}: ${prUrl}`);
      else if (result?.type === 'branch') out(`Pushed to branch ${result.branch ?? session.branch} of ${session.repo}`);
      else if (result) out(result.content);
      else out(`Session ${session.id} completed`);
      // Delivered, but not clean: said plainly, on stderr so scripts reading the URL are unaffected.
      if (result?.warning && result.type !== 'text') err(`Warning: ${result.warning}`);
      return 0;
    }
    case 'error':
      err(`session ${session.id} failed: ${session.error ?? 'no reason was recorded; see `telecoder logs ' + session.id + '`'}`);
      return 1;
    case 'stopped':
      err(`session ${session.id} was stopped${session.error ? `: ${session.error}` : ''}`);
      return 1;
    default:
      if (!json) out(`Session ${session.id} is ${session.status}`);
      return 0;
  }
}
