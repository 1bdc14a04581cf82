import { createActivityLine } from '../activity-line.js';
import { ApiError, type SessionEventJson } from '../api-client.js';
import { UsageError } from '../cli-io.js';
import { followEvents } from '../follow-events.js';
import { activityLabel, formatEvent } from '../format-event.js';
import { createLineReader } from '../line-reader.js';
import { resolveRepoArgument } from '../repo-argument.js';
import type { CommandContext } from './command-context.js';
import { INTERRUPTED_EXIT_CODE, reportOutcome } from './run-command.js';

export interface ChatOptions {
  repo?: string;
  agent?: string;
  model?: string;
}

const HELP = [
  'Each line you type is a message; the agent works in one sandbox for the whole chat.',
  '  /pr    commit what the chat changed and open (or update) its pull request',
  '  /stop  end the chat and remove its sandbox',
  '  /quit  leave; the chat stays open until it has been idle for TELECODER_CHAT_IDLE_TIMEOUT (Ctrl-D too)',
  '  /help  this list',
];

/** Told once the chat is left open, so the sandbox it holds is not forgotten. */
const leftOpen = (id: string) => `left chat ${id} open (it ends once idle for the server's TELECODER_CHAT_IDLE_TIMEOUT); \`telecoder stop ${id}\` ends it now`;

/**
 * `telecoder chat --repo <repo> [first message]`: a conversation with the agent over the chat
 * API. Each line is sent as a message and its events are streamed until the chat is idle again;
 * `/pr` opens the pull request, `/stop` ends the chat. Lines come from a terminal or a pipe.
 */
export async function chatCommand(context: CommandContext, words: string[], options: ChatOptions): Promise<number> {
  const { client, io, out, err } = context;
  if (!options.repo) {
    throw new UsageError('say which repository to chat about: --repo owner/name, or --repo with a path to a local git repository');
  }
  const repo = resolveRepoArgument(options.repo, io.cwd ?? process.cwd());
  const input = io.stdin ?? process.stdin;
  const reader = createLineReader({ input, output: io.stderr });
  const prompt = input.isTTY ? 'you> ' : '';
  const activity = createActivityLine({ stream: io.stderr, enabled: Boolean(io.stderr.isTTY) });
  const print = (line: string) => {
    activity.clear();
    out(line);
  };

  // Ctrl-C reaches us from the process (piped input) or from readline (a terminal in raw mode).
  const interrupt = new AbortController();
  const interrupted = new Promise<undefined>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  const stopListening = io.onInterrupt?.(() => interrupt.abort()) ?? (() => undefined);
  reader.onInterrupt(() => interrupt.abort());

  let id: string | undefined;
  let lastEventId = 0;
  let working = false;
  let pending = words.join(' ').trim() || undefined;
  if (input.isTTY) for (const line of HELP) io.stderr.write(`${line}\n`);

  try {
    for (;;) {
      const line = pending ?? (await Promise.race([reader.ask(prompt), interrupted]));
      pending = undefined;
      interrupt.signal.throwIfAborted();
      if (line === undefined || line.trim() === '/quit' || line.trim() === '/exit') {
        if (id) err(leftOpen(id));
        return 0;
      }
      const text = line.trim();
      if (text === '') continue;

      if (text.startsWith('/')) {
        if (text === '/help') {
          for (const help of HELP) print(help);
        } else if (text === '/pr') {
          if (!id) err('nothing to put in a pull request yet: send a message first');
          else await orSay(() => pullRequest(id!));
        } else if (text === '/stop') {
          if (!id) return 0;
          const stopped = await client.stopSession(id, { signal: interrupt.signal });
          print(`Chat ${stopped.id} is ${stopped.status}`);
          return 0;
        } else {
          err(`${text.split(/\s/)[0]} is not a chat command; /pr opens the pull request, /stop ends the chat, /help lists them`);
        }
        continue;
      }

      working = true;
      if (!id) {
        const created = await client.createSession(
          { repo, prompt: text, mode: 'chat', ...(options.agent ? { agent: options.agent } : {}), ...(options.model ? { model: options.model } : {}) },
          { signal: interrupt.signal },
        );
        id = created.id;
        print(`Chat ${id} started on ${repo} (branch ${created.branch})`);
      } else if (!(await orSay(() => client.sendMessage(id!, text, { signal: interrupt.signal })))) {
        working = false;
        continue;
      }
      const ended = await streamReply(id);
      working = false;
      if (ended) {
        const session = await client.getSession(id, { signal: interrupt.signal });
        return reportOutcome(context, session, false);
      }
    }
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    activity.stop();
    if (!id) err('interrupted before the server confirmed the chat; `telecoder list` shows whether it was created');
    else if (working) err(`interrupted: chat ${id} is still running; \`telecoder stop ${id}\` to stop it, \`telecoder logs ${id} --follow\` to watch it`);
    else err(`interrupted: ${leftOpen(id)}`);
    return INTERRUPTED_EXIT_CODE;
  } finally {
    activity.stop();
    stopListening();
    reader.close();
  }

  /** A refusal (409 busy, the message limit) is said and the chat goes on; false when it came. */
  async function orSay(action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      err(error.message);
      return false;
    }
  }

  async function pullRequest(sessionId: string): Promise<void> {
    activity.waitFor('opening the pull request');
    const pr = await client.createPullRequest(sessionId, { signal: interrupt.signal });
    activity.clear();
    if (pr.url) print(`${pr.draft ? 'Draft PR open' : 'PR ready'}: ${pr.url}`);
    else print(`Pushed to branch ${pr.branch} of ${repo}`);
    if (pr.warning) err(`Warning: ${pr.warning}`);
    if (pr.held_back?.length) err(`Held back (workflow files, not pushed): ${pr.held_back.join(', ')}`);
  }

  /**
   * Prints the message's events until the chat is idle again; true when the chat ended instead.
   * The answer is the last `output` before `idle`, so each output is held until the next event
   * shows whether it was a command's output (shortened) or the answer (in full).
   */
  async function streamReply(sessionId: string): Promise<boolean> {
    let held: SessionEventJson | undefined;
    const release = () => {
      const line = held ? formatEvent(held) : undefined;
      if (line !== undefined) print(line);
      held = undefined;
    };
    const result = await followEvents({
      client,
      sessionId,
      afterId: lastEventId,
      signal: interrupt.signal,
      ...(io.streamIdleMs ? { idleMs: io.streamIdleMs } : {}),
      stopAfter: (event) => event.type === 'status' && event.data === 'idle',
      onEvent(event) {
        if (event.type === 'status' && event.data === 'idle') {
          if (held) print(`\n${String(held.data).trim()}\n`);
          held = undefined;
          return;
        }
        release();
        if (event.type === 'output') held = event;
        else if (event.type !== 'status') {
          const line = formatEvent(event);
          if (line !== undefined) print(line);
        }
        activity.waitFor(activityLabel(event));
      },
    });
    release();
    activity.clear();
    lastEventId = result.lastEventId;
    return result.done !== undefined;
  }
}
