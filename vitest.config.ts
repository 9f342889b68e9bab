import { defineConfig } from 'vitest/config';

// isolated-vm needs --no-node-snapshot on Node >= 20; forks (not threads) so each test file runs in a
// child process that gets the flag.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--no-node-snapshot'] } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
