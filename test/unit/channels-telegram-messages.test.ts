import { Api } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fitMessage } from '../../src/channels/progress-message.js';
import { progressWriter, sendText, sendTextOrFile } from '../../src/channels/telegram/telegram-messages.js';
import { startFakeTelegramApi, TELEGRAM_TEST_TOKEN, type FakeTelegramApi } from '../helpers/fake-telegram-api.js';

describe('Telegram messages through grammY, against the Bot API stand-in', () => {
  let telegram: FakeTelegramApi;
  let api: Api;
  beforeEach(async () => {
    telegram = await startFakeTelegramApi();
    api = new Api(TELEGRAM_TEST_TOKEN, { apiRoot: telegram.url });
  });
  afterEach(async () => telegram.close());

  it('a progress writer posts once and edits that message; "message is not modified" counts as written', async () => {
    const write = progressWriter(api, 5);
    await write('Working');
    await write('Working, step 2');
    // Telegram trims: this edit changes nothing it would show, and it answers 400 "not modified".
    await expect(write('Working, step 2\n')).resolves.toBeUndefined();
    expect(telegram.messages).toHaveLength(1);
    expect(telegram.messages[0]!.history).toEqual(['Working', 'Working, step 2']);
    expect(telegram.calls.filter((call) => call.method === 'editMessageText')).toHaveLength(2);
  });

  it('other refusals of an edit still fail', async () => {
    const write = progressWriter(api, 5);
    await write('first');
    telegram.messages.length = 0;
    await expect(write('second')).rejects.toThrow(/message to edit not found/);
  });

  it('keeps every message within 4096 characters, cutting visibly and never inside an emoji', async () => {
    await sendText(api, 5, 'y'.repeat(10_000));
    expect(telegram.messages[0]!.text).toHaveLength(4096);
    expect(telegram.messages[0]!.text).toMatch(/\n… \(cut\)$/);
    const emoji = fitMessage(`${'a'.repeat(4087)}😀😀😀😀😀`, 4096);
    expect(emoji.length).toBeLessThanOrEqual(4096);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF]\n/);
    expect(emoji).toBe(`${'a'.repeat(4087)}\n… (cut)`);
  });

  it('sends a text that does not fit as a file, whole', async () => {
    const diff = `diff --git a/x b/x\n${'+line\n'.repeat(2_000)}`;
    await sendTextOrFile(api, 5, { caption: 'Diff of session s1:', text: diff, fileName: 'telecoder-s1.diff' });
    expect(telegram.messages).toHaveLength(0);
    expect(telegram.documents).toHaveLength(1);
    expect(telegram.documents[0]).toMatch(/filename="?telecoder-s1\.diff/);
    expect(telegram.documents[0]).toContain(diff);
    await sendTextOrFile(api, 5, { caption: 'Diff:', text: 'small', fileName: 'x.diff' });
    expect(telegram.messages[0]!.text).toBe('Diff:\n\nsmall');
  });
});
