/**
 * Who may start work through a chat door. Unset or empty allows nobody: a bot anyone in a
 * workspace (or anyone at all, on Telegram) can reach must not run code for them by default.
 * `*` allows everyone who can reach the bot.
 */
export class AllowList {
  readonly #everyone: boolean;
  readonly #ids: ReadonlySet<string>;
  readonly #variable: string;

  /** `value`: the setting's text (ids separated by commas or spaces, or `*`); `variable`: its name. */
  constructor(value: string | undefined, variable: string) {
    const ids = (value ?? '').split(/[\s,]+/).filter(Boolean);
    this.#everyone = ids.includes('*');
    this.#ids = new Set(ids);
    this.#variable = variable;
  }

  allows(userId: string | number): boolean {
    return this.#everyone || this.#ids.has(String(userId));
  }

  /** The reply to someone not on the list: their id, and how an operator lets them in. */
  refusal(userId: string | number): string {
    return (
      `You are not allowed to use TeleCoder here yet. Your user id is ${userId}: ask the server's operator to add it to ` +
      `${this.#variable} (a comma-separated list of ids, or * for everyone) and restart TeleCoder.`
    );
  }
}
