import { TeleCoderError } from '../errors.js';

export interface TaskText {
  /** The words of the task, with the options taken out. */
  prompt: string;
  /** `--repo owner/name` (or `--repo=owner/name`), when given. */
  repo?: string;
}

const REPO_OPTION = /(?:^|\s)--repo(?:=|\s+)(\S+)/;

/** Splits a chat message into the task and its `--repo` option (anywhere in the text). */
export function parseTaskText(text: string): TaskText {
  const match = REPO_OPTION.exec(text);
  if (!match) return { prompt: text.trim() };
  const prompt = `${text.slice(0, match.index)} ${text.slice(match.index + match[0].length)}`.replace(/[ \t]+/g, ' ').trim();
  return { prompt, repo: match[1]! };
}

/**
 * The repository a message works on: its own `--repo`, else the door's default. Without either
 * the user is told how to name one (`defaultVariable` is the door's setting, e.g.
 * SLACK_DEFAULT_REPO).
 */
export function chooseRepo(task: TaskText, options: { defaultRepo?: string | undefined; defaultVariable: string }): string {
  const repo = task.repo ?? options.defaultRepo;
  if (!repo) {
    throw new TeleCoderError(
      `which repository? Add --repo owner/name to the message, or have the server's operator set ${options.defaultVariable}`,
    );
  }
  return repo;
}
