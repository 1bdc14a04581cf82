const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Short waits are not worth a line: it appears once nothing has happened for this long. */
const SHOW_AFTER_MS = 1000;
const REDRAW_MS = 250;

export interface ActivityLine {
  /** Restarts the clock: `label` is what is being waited for (a tool's command). */
  waitFor(label: string): void;
  /** Wipes the line, before anything else is printed to the terminal. */
  clear(): void;
  stop(): void;
}

const NONE: ActivityLine = { waitFor() {}, clear() {}, stop() {} };

/**
 * A spinner and the time since the last event, redrawn in place on stderr, so a long command in
 * the sandbox is visibly alive. Only for a person at a terminal: with `enabled` false (piped
 * output, --json) it draws nothing at all.
 */
export function createActivityLine(options: { stream: { write(text: string): unknown }; enabled: boolean; now?: () => number }): ActivityLine {
  if (!options.enabled) return NONE;
  const now = options.now ?? Date.now;
  let label = 'working';
  let since = now();
  let frame = 0;
  let drawn = false;
  const timer = setInterval(() => {
    const elapsed = now() - since;
    if (elapsed < SHOW_AFTER_MS) return;
    frame = (frame + 1) % FRAMES.length;
    const seconds = Math.floor(elapsed / 1000);
    const time = seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
    options.stream.write(`\r\x1b[K${FRAMES[frame]} ${label} · ${time}`);
    drawn = true;
  }, REDRAW_MS);
  // Never the reason the CLI stays alive.
  timer.unref();
  const clear = () => {
    if (drawn) options.stream.write('\r\x1b[K');
    drawn = false;
  };
  return {
    waitFor(next) {
      label = next.length > 60 ? `${next.slice(0, 59)}…` : next;
      since = now();
    },
    clear,
    stop() {
      clearInterval(timer);
      clear();
    },
  };
}
