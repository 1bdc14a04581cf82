import { describe, expect, it } from 'vitest';
import { AllowList } from '../../src/channels/allow-list.js';
import { chooseRepo, parseTaskText } from '../../src/channels/task-text.js';

describe('chat doors: task text and the allow-list', () => {
  it('takes --repo out of the task wherever it is, in either spelling', () => {
    expect(parseTaskText('fix the build --repo acme/widgets')).toEqual({ prompt: 'fix the build', repo: 'acme/widgets' });
    expect(parseTaskText('--repo=acme/widgets fix   it')).toEqual({ prompt: 'fix it', repo: 'acme/widgets' });
    expect(parseTaskText('  just a question ')).toEqual({ prompt: 'just a question' });
  });

  it("uses the message's repository, else the default, else says how to name one", () => {
    expect(chooseRepo({ prompt: 'x', repo: 'a/b' }, { defaultRepo: 'c/d', defaultVariable: 'TELEGRAM_DEFAULT_REPO' })).toBe('a/b');
    expect(chooseRepo({ prompt: 'x' }, { defaultRepo: 'c/d', defaultVariable: 'TELEGRAM_DEFAULT_REPO' })).toBe('c/d');
    expect(() => chooseRepo({ prompt: 'x' }, { defaultRepo: undefined, defaultVariable: 'TELEGRAM_DEFAULT_REPO' })).toThrow(
      /Add --repo owner\/name .* set TELEGRAM_DEFAULT_REPO/,
    );
  });

  it('allows nobody when unset, everyone with *, listed ids otherwise; the refusal gives the id and the setting', () => {
    expect(new AllowList(undefined, 'TELEGRAM_ALLOWED_USERS').allows(42)).toBe(false);
    expect(new AllowList('*', 'TELEGRAM_ALLOWED_USERS').allows(42)).toBe(true);
    const list = new AllowList('7, 42', 'TELEGRAM_ALLOWED_USERS');
    expect([list.allows(42), list.allows('7'), list.allows(8)]).toEqual([true, true, false]);
    expect(list.refusal(8)).toMatch(/Your user id is 8: .*TELEGRAM_ALLOWED_USERS/);
  });
});
