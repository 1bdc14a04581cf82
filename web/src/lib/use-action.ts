import { useState } from 'react';

/**
 * A button's action: `busy` while it runs (the buttons disable themselves), and its failure told
 * through `report` (cleared when the next action starts).
 */
export function useAction(report: (message: string) => void): { busy: boolean; run: (action: () => Promise<unknown>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    report('');
    try {
      await action();
    } catch (error) {
      report(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}
