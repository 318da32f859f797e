/**
 * Commands that change the host run under the lock (a second instance exits 75, or waits with
 * --wait), and run `recover` first (PRODUCT.md section 5: every other command does this first).
 */
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import type { RecoverReport } from '../lifecycle/recover.ts';
import type { GlobalOptions } from './runtime.ts';

export async function underLock<T>(
  paths: HostPaths,
  opts: GlobalOptions,
  log: Logger,
  fn: (recovered: RecoverReport) => Promise<T>,
): Promise<T> {
  // Imported here, not at the top: `--help` and the publisher commands never need them.
  const { HostLock } = await import('../store/lock.ts');
  const { recover } = await import('../lifecycle/recover.ts');
  const lock = await HostLock.acquire(paths.lockFile, { wait: opts.wait === true });
  try {
    const recovered = await recover(paths, log);
    return await fn(recovered);
  } finally {
    await lock.release();
  }
}
