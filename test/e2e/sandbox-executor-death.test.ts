import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EXECUTOR_MARKER } from '../../src/sandbox/docker/executor-script.js';
import { useAppHarness } from '../helpers/app-harness.js';
import { waitForFinal } from '../helpers/test-app.js';

// The agent kills the sandbox's command executor (sandbox-executor.ts) from inside: the session
// fails with that reason instead of running its commands some other way.

const finish = { toolCalls: [{ name: 'finish', arguments: { summary: 'done' } }] };

function containersOf(sessionId: string): string {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=telecoder.session=${sessionId}`], { encoding: 'utf8' }).trim();
}

describe('an executor killed mid-session', () => {
  const harness = useAppHarness('executor-death');

  it('fails the session with the reason, and the container is removed', async () => {
    const repo = harness.localRepo({ 'README.md': '# Project\n' });
    await harness.start({
      script: [
        { toolCalls: [{ name: 'run_command', arguments: { command: 'echo before' } }] },
        { toolCalls: [{ name: 'run_command', arguments: { command: `pkill -KILL -f ${EXECUTOR_MARKER}; sleep 5` } }] },
        { toolCalls: [{ name: 'run_command', arguments: { command: 'echo after' } }] },
        finish,
      ],
    });
    const response = await fetch(`${harness.url}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo, prompt: 'do the thing' }),
    });
    expect(response.status).toBe(201);
    const session = await waitForFinal(harness.app, ((await response.json()) as { id: string }).id);
    expect(session.status).toBe('error');
    expect(session.error).toMatch(/the sandbox's command executor stopped: killed by signal 9/i);
    // The first command's answer reached the model; nothing after the kill did.
    expect(JSON.stringify(harness.llm.requests.at(-1)!.body)).toMatch(/before/);
    expect(harness.llm.requests).toHaveLength(2);
    expect(containersOf(session.id)).toBe('');
  });
});
