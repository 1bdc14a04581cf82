/** The bot's commands, as Telegram lists them in the chat's menu (setMyCommands). */
export const TELEGRAM_COMMANDS = [
  { command: 'start', description: 'What this bot does, and your user id' },
  { command: 'help', description: 'How to use TeleCoder here' },
  { command: 'new', description: 'Start a fresh chat: /new [--repo owner/name] [first message]' },
  { command: 'run', description: 'Run a task to a pull request: /run <task> [--repo owner/name]' },
  { command: 'status', description: "This chat's current session" },
  { command: 'stop', description: "Stop this chat's session and remove its sandbox" },
  { command: 'pr', description: "Open a pull request with the chat's changes" },
  { command: 'diff', description: "Show the session's changes as a diff" },
] as const;

/** /help (and /start): every command, and where the repository comes from. */
export function helpText(defaultRepo: string | undefined): string {
  const repo = defaultRepo
    ? `Work happens on ${defaultRepo} unless a message says --repo owner/name.`
    : 'Name the repository with --repo owner/name (no default repository is set).';
  return [
    'TeleCoder runs a coding agent on a repository in a sandbox.',
    '',
    'Send a plain message to start a chat, and more messages to go on with it.',
    '/run <task> [--repo owner/name]: a task that ends with a pull request',
    '/new [--repo owner/name] [message]: forget the current chat and start another',
    '/status: the current session',
    '/stop: stop it (the sandbox is removed)',
    '/pr: open a pull request with what the chat changed',
    '/diff: the changes so far',
    '',
    repo,
  ].join('\n');
}
