/**
 * `npm run test:unit`: the tests that need no root, no loop devices and no external tool (no
 * systemd, mksquashfs, veritysetup, nginx, openssl): pure code and in-process edges. Chosen by
 * file; the oracle (`*.oracle.test.ts`) and real-host (`*.real.test.ts`) files are left to
 * `npm test`, which runs everything. Files run in parallel here: none shares a host resource.
 */
import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import shared from './vitest.config.ts';

const UNIT_TESTS = [
  'test/*.test.ts',
  'test/cli/log-format.test.ts',
  'test/cli/system-error.test.ts',
  'test/cli/version.test.ts',
  'test/commands/rescue.test.ts',
  'test/commands/unquarantine.test.ts',
  'test/compat/**/*.test.ts',
  'test/config/**/*.test.ts',
  'test/fixtures/**/*.test.ts',
  'test/fuzz/config.test.ts',
  'test/fuzz/envelope.test.ts',
  'test/fuzz/journal.test.ts',
  'test/fuzz/state.test.ts',
  'test/fuzz/version.test.ts',
  'test/hash/**/*.test.ts',
  'test/health/**/*.test.ts',
  'test/host/**/*.test.ts',
  'test/manifest/**/*.test.ts',
  'test/metrics/format.test.ts',
  'test/net/file-source.test.ts',
  'test/net/proxy-env.test.ts',
  'test/net/retry.test.ts',
  'test/net/slow-rate.test.ts',
  'test/plan/**/*.test.ts',
  'test/rescue/**/*.test.ts',
  'test/self/**/*.test.ts',
  'test/serve/**/*.test.ts',
  'test/store/atomic.test.ts',
  'test/store/hostile-fs.test.ts',
  'test/store/contained.test.ts',
  'test/systemd/tools.test.ts',
  'test/systemd/trial-script.test.ts',
  'test/systemd/trial.test.ts',
  'test/systemd/version.test.ts',
  'test/transaction/**/*.test.ts',
  'test/util/**/*.test.ts',
  'test/verity/**/*.test.ts',
  'test/version/**/*.test.ts',
];

export default defineConfig({
  test: {
    ...shared.test,
    include: UNIT_TESTS,
    exclude: [...configDefaults.exclude, '**/*.real.test.ts', '**/*.oracle.test.ts'],
    fileParallelism: true,
    // Vitest's default is one worker fewer than the CPUs: on a 2-CPU machine that is one.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
