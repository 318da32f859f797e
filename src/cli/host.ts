/**
 * Commands that change the host run under the lock (a second instance exits 75, or waits with
 * --wait), and run `recover` first (PRODUCT.md section 5: every other command does this first).
 */
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import type { RecoverReport } from '../transaction/recover.ts';
import type { GlobalOptions } from './runtime.ts';
import type { TxPorts } from '../transaction/env.ts';
import { defaultPorts } from '../commands/ports.ts';

export async function underLock<T>(
  paths: HostPaths,
  opts: GlobalOptions,
  log: Logger,
  fn: (recovered: RecoverReport) => Promise<T>,
  ports: TxPorts = defaultPorts(),
): Promise<T> {
  // Imported here, not at the top: `--help` and the publisher commands never need them.
  const { HostLock } = await import('../store/lock.ts');
  const { recover } = await import('../transaction/recover.ts');
  const lock = await HostLock.acquire(paths.lockFile, { wait: opts.wait === true });
  try {
    const recovered = await recover(paths, log, ports);
    return await fn(recovered);
  } finally {
    await lock.release();
  }
}

/** `underLock` for a command with a context: recovery uses the context's edges. */
export function underLockFor<T>(
  ctx: { paths: HostPaths; ports: TxPorts },
  opts: GlobalOptions,
  log: Logger,
  fn: (recovered: RecoverReport) => Promise<T>,
): Promise<T> {
  return underLock(ctx.paths, opts, log, fn, ctx.ports);
}
