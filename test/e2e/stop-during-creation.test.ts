/**
 * Stop racing sandbox creation: the stop arrives while Docker is still making the session's
 * container, before the engine has a sandbox it could kill. The container that creation then
 * produces must not outlive the session, and the session ends `stopped` — not `error`, and
 * without the agent ever starting.
 *
 * Docker is held at one point of the creation by wrapping the Docker client's calls (the engine
 * and the runtime are the real ones): before the container exists, or after it exists but before
 * it starts.
 */
import Dockerode from 'dockerode';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useAppHarness } from '../helpers/app-harness.js';
import { containersOf, removeSessionContainers } from '../helpers/docker-leftovers.js';
import { waitUntil } from '../helpers/wait-until.js';

const SESSION_LABEL = 'telecoder.session';

/** A gate the test opens; `reached` is set once the held call arrives at it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open, reached: false };
}

describe('stop while the sandbox is being created', () => {
  const harness = useAppHarness('stop-creating');
  // Runs before the harness stops the app (after-hooks run last registered first).
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each(['before the container exists', 'after the container exists, before it starts'] as const)(
    'a stop that arrives %s leaves no container and ends the session stopped',
    async (moment) => {
      const repo = harness.localRepo({ 'README.md': '# Project\n' });
      const held = gate();
      const createContainer = Dockerode.prototype.createContainer;
      vi.spyOn(Dockerode.prototype, 'createContainer').mockImplementation(async function (
        this: Dockerode,
        options: Dockerode.ContainerCreateOptions,
      ) {
        if (!options.Labels?.[SESSION_LABEL]) return createContainer.call(this, options);
        if (moment === 'before the container exists') {
          held.reached = true;
          await held.opened;
          return createContainer.call(this, options);
        }
        const container = await createContainer.call(this, options);
        const start = container.start.bind(container);
        container.start = (async (...args: unknown[]) => {
          held.reached = true;
          await held.opened;
          return (start as (...rest: unknown[]) => Promise<unknown>)(...args);
        }) as typeof container.start;
        return container;
      } as typeof createContainer);

      const started = await harness.start({ script: [{ toolCalls: [{ name: 'finish', arguments: { summary: 'should never run' } }] }] });
      const created = await fetch(`${started.url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repo, prompt: 'do the thing' }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      // Whatever the outcome, nothing of the test stays on the Docker engine.
      harness.onCleanup(() => removeSessionContainers(id));
      await waitUntil('Docker to be creating the sandbox', () => held.reached, { intervalMs: 20 });
      if (moment === 'after the container exists, before it starts') expect(containersOf(id)).toHaveLength(1);

      // The engine's stop (what POST /stop calls) aborts the run at once; the creation goes on after it.
      const stopping = started.app.engine.stop(id);
      held.open();
      const stopped = await stopping;

      expect(stopped.status).toBe('stopped');
      expect(stopped.error).toBe('stopped by request');
      expect(containersOf(id)).toEqual([]);
      expect(harness.llm.requests).toHaveLength(0);
      const shown = (await (await fetch(`${started.url}/api/sessions/${id}`)).json()) as { status: string };
      expect(shown.status).toBe('stopped');
      const events = started.app.store.listEvents(id);
      expect(events.filter((event) => event.type === 'status').map((event) => event.data)).toEqual(['pending', 'running', 'stopped']);
      expect(events.at(-1)).toMatchObject({ type: 'done', data: { status: 'stopped' } });
      // Nothing turns up later either.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(containersOf(id)).toEqual([]);
      expect(started.app.store.getSession(id)!.status).toBe('stopped');
    },
  );
});
