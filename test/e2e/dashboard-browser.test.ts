/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the real
 * server, a scripted LLM and real sandboxes: the token gate, the live list, a session's page with
 * its diff, a task started from the form and stopped, a chat and its pull request, and no errors
 * in the browser's console along the way.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/server/package-root.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { containersOf } from '../helpers/docker-leftovers.js';
import { git } from '../helpers/git-fixtures.js';
import { waitForFinal } from '../helpers/test-app.js';

const CHROMIUM = '/usr/bin/chromium';
/** Where the README's screenshots are written when asked for (TELECODER_SCREENSHOTS=docs/images). */
const SCREENSHOTS = process.env.TELECODER_SCREENSHOTS;
const TOKEN = 'dashboard-test-token';
const writeNote = { toolCalls: [{ name: 'write_file', arguments: { path: 'note.txt', content: 'from the dashboard\n' } }] };
const finish = (summary: string) => ({ toolCalls: [{ name: 'finish', arguments: { summary } }] });
const sleepForever = { toolCalls: [{ name: 'run_command', arguments: { command: 'sleep 600' } }] };

describe('the dashboard in a real browser', () => {
  const harness = useAppHarness('dashboard-browser');
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    if (!existsSync(join(packageRoot(), 'dist', 'web', 'index.html'))) throw new Error('dist/web is not built: run npm run build');
    // Root in a container has no user namespaces for chromium's sandbox; the page is our own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function openPage(url: string) {
    problems = [];
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
    await page.goto(url);
  }

  afterEach(async () => {
    await page?.close();
  });

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${harness.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });

  it('shows nothing before the token; then the list live, a session page with its diff', async () => {
    await harness.start({
      script: [{ ...writeNote, delayMs: 1_500 }, finish('Wrote the note.')],
      env: { TELECODER_API_TOKEN: TOKEN },
    });
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    const created = await api('/api/sessions', { method: 'POST', body: JSON.stringify({ repo, prompt: 'write a note' }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    await openPage(harness.url);
    await page.getByTestId('token-form').waitFor();
    expect(await page.getByTestId('session-row').count()).toBe(0);
    expect(await page.content()).not.toContain('write a note');

    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    const row = page.locator(`[data-testid="session-row"][data-session-id="${id}"]`);
    await row.waitFor();
    // Live: the row moves to complete while the page stays open (no reload, no polling).
    await page.locator(`[data-testid="session-row"][data-session-id="${id}"][data-status="complete"]`).waitFor({ timeout: 60_000 });
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-list.png') });
    // The token lives in the tab's sessionStorage and goes only in headers.
    expect(await page.evaluate('Object.keys(sessionStorage).length')).toBeGreaterThan(0);

    await row.getByRole('link').click();
    await page.getByTestId('session-page').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/sessions/${id}`);
    const file = page.getByTestId('diff-file').first();
    await file.waitFor();
    expect(await file.textContent()).toContain('note.txt');
    expect(await page.getByTestId('diff-panel').textContent()).toContain('from the dashboard');
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-session.png'), fullPage: true });

    // A deep link in a new tab asks for the token again (sessionStorage is per tab) and shows nothing before it.
    const deep = await browser.newPage();
    await deep.goto(`${harness.url}/sessions/${id}`);
    await deep.getByTestId('token-form').waitFor();
    expect(await deep.content()).not.toContain('note.txt');
    await deep.close();
    expect(problems).toEqual([]);
  });

  it('starts a task from the form and stops it: the container is gone', async () => {
    await harness.start({ script: [sleepForever] });
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    await openPage(harness.url);
    await page.getByTestId('start-repo').fill(repo);
    await page.getByTestId('start-prompt').fill('wait for a long time');
    await page.getByTestId('start-submit').click();
    await page.getByTestId('session-page').waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await expect.poll(() => harness.app.store.listEvents(id).some((event) => event.type === 'tool') && containersOf(id).length > 0, { timeout: 60_000 }).toBe(true);

    await page.getByTestId('stop').click();
    expect((await waitForFinal(harness.app, id)).status).toBe('stopped');
    expect(containersOf(id)).toEqual([]);
    await page.locator('[data-testid="session-page"] [data-testid="status"]', { hasText: 'stopped' }).first().waitFor();
    expect(problems).toEqual([]);
  });

  it('a chat: a message from the box, then "Create PR" commits the work to its branch', async () => {
    await harness.start({ script: [finish('Hello! What should I do?'), writeNote, finish('Wrote the note.')] });
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    await openPage(harness.url);
    await page.getByTestId('start-repo').fill(repo);
    await page.getByTestId('start-prompt').fill('hello');
    await page.getByTestId('start-mode').selectOption('chat');
    await page.getByTestId('start-submit').click();
    await page.getByTestId('chat').waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await page.getByTestId('chat-message').filter({ hasText: 'Hello! What should I do?' }).waitFor({ timeout: 60_000 });

    await page.getByTestId('chat-input').fill('write a note');
    await page.getByTestId('chat-send').click();
    await page.getByTestId('chat-message').filter({ hasText: 'Wrote the note.' }).waitFor({ timeout: 60_000 });
    await page.getByTestId('create-pr').click();
    await expect.poll(() => git(repo, 'branch', '--list', `telecoder/${id}`), { timeout: 30_000 }).not.toBe('');
    expect(git(repo, 'show', `telecoder/${id}:note.txt`)).toBe('from the dashboard');
    expect(problems).toEqual([]);
  });
});
