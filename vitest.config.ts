import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**', 'test/package/**', '**/node_modules/**'],
        },
      },
      {
        // The built binary, krew, and the real control plane. Slow; one cluster for the whole run.
        test: {
          name: 'e2e',
          include: ['test/package/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          // Child processes, not threads: a worker whose file leaves a socket or watch open is
          // killed at the end instead of keeping the run from exiting (a thread can hang it).
          pool: 'forks',
        },
      },
    ],
  },
});
