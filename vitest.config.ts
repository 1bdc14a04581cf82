import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The dashboard's components use React's automatic JSX runtime (no `import React`), as its build does.
  esbuild: { jsx: 'automatic' },
  test: {
    // .tsx: the dashboard's component tests (test/web/), which render React in happy-dom.
    include: ['test/**/*.test.ts', 'test/web/**/*.test.tsx'],
    setupFiles: ['test/setup/leave-node-http-to-docker.ts'],
    // Docker-backed tests share one engine on a 2-core machine: keep files from stampeding it.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
