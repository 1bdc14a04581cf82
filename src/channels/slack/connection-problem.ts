/** Which step of connecting failed: checking the bot token, or opening the Socket Mode connection. */
export type ConnectionStep = 'bot token' | 'socket';

export class SlackConnectionError extends Error {
  constructor(
    readonly step: ConnectionStep,
    readonly original: unknown,
  ) {
    super(original instanceof Error ? original.message : String(original));
  }
}

/** Why the Slack door could not connect, and what to do about it. */
export function connectionProblem(error: unknown, apiUrl: string): string {
  const step = error instanceof SlackConnectionError ? error.step : 'socket';
  const original = error instanceof SlackConnectionError ? error.original : error;
  const code = (original as { data?: { error?: string } }).data?.error;
  const variable = step === 'bot token' ? 'SLACK_BOT_TOKEN' : 'SLACK_APP_TOKEN';
  if (code && ['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired'].includes(code)) {
    const where =
      step === 'bot token'
        ? 'the Bot User OAuth Token on the Slack app\'s "OAuth & Permissions" page'
        : 'an app-level token with the connections:write scope ("Basic Information" → App-Level Tokens)';
    return `Slack refused ${variable} (${code}); set it to ${where}`;
  }
  if (code) return `Slack answered ${step === 'bot token' ? 'auth.test' : 'apps.connections.open'} with "${code}" (check ${variable} and the app's settings, docs/slack-setup.md)`;
  const message = original instanceof Error ? original.message : String(original);
  return `${message} (is ${apiUrl} reachable from this server? SLACK_API_URL sets another address)`;
}
