import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test must make at least one expectation (expect.hasAssertions in each test).
    setupFiles: ['test/helpers/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests share loop devices, nginx ports and mount namespaces; files run one at a time.
    fileParallelism: false,
    reporters: ['default'],
    // Measured for `npm test` (`vitest run --coverage`): the code the test processes run; the
    // CLI processes the tests spawn are not measured.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      reportsDirectory: 'coverage',
    },
  },
});
