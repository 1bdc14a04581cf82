// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { flushSync } from 'react-dom';
import { createRoot, type Root } from 'react-dom/client';
import { DiffView } from '../../web/src/components/DiffView.js';

const SMALL = ['diff --git a/a.ts b/a.ts', '--- a/a.ts', '+++ b/a.ts', '@@ -1,2 +1,2 @@', ' keep', '-old', '+new'].join('\n');
const BIG = ['diff --git a/big.txt b/big.txt', 'new file mode 100644', '--- /dev/null', '+++ b/big.txt', '@@ -0,0 +1,401 @@', ...Array.from({ length: 401 }, (_, index) => `+line ${index}`)].join('\n');

let root: Root | undefined;
afterEach(() => {
  root?.unmount();
  document.body.innerHTML = '';
});

function render(text: string): HTMLElement {
  const container = document.body.appendChild(document.createElement('div'));
  root = createRoot(container);
  flushSync(() => root!.render(<DiffView text={text} />));
  return container;
}

function click(element: Element | null): void {
  flushSync(() => (element as HTMLElement).click());
}

describe('DiffView', () => {
  it('shows each file, collapses a large one until asked, and switches to side by side', () => {
    const container = render(`${SMALL}\n${BIG}\n`);
    const [small, big] = [...container.querySelectorAll('[data-testid="diff-file"]')];
    expect(small!.getAttribute('data-path')).toBe('a.ts');
    expect(small!.querySelectorAll('tr.line-add')).toHaveLength(1);
    expect(big!.querySelector('table')).toBeNull();
    expect(big!.querySelector('[data-testid="diff-toggle"]')!.textContent).toContain('401 changed lines');

    click(big!.querySelector('[data-testid="diff-toggle"]'));
    expect(big!.querySelectorAll('tr.line-add')).toHaveLength(401);

    click(container.querySelector('[data-testid="diff-split"]'));
    const row = [...small!.querySelectorAll('table.split tr')].find((tr) => tr.textContent?.includes('old'));
    // Side by side: the removed and the added line share one row.
    expect(row?.textContent).toContain('new');
  });
});
