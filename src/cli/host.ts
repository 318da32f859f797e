/**
 * Commands that change the host run under the lock (a second instance exits 75, or waits with
 * --wait), and run `recover` first (PRODUCT.md section 5: every other command does this first).
 */
import type { Logger } from 'pino';
import type { HostPaths } from '../config/paths.ts';
import type { RecoverReport } from '../transaction/recover.ts';
import { parseDuration } from '../util/duration.ts';
import type { GlobalOptions } from './runtime.ts';
import type { TxPorts } from '../transaction/env.ts';
import { defaultPorts } from '../commands/ports.ts';

/**
 * How long `--wait` alone waits for another instance. Bounded, so that a hung holder does not
 * pile up timer runs forever: 10 minutes is longer than an update of a few hundred MiB takes on
 * a slow link, and shorter than any sensible timer interval.
 */
export const DEFAULT_WAIT = '10m';

/**
 * `--wait[=DURATION]`: commander's optional option value would take the next word (`--wait
 * update` would wait "update"), so a bare `--wait` is turned into `--wait=` (the default bound)
 * before parsing. Nothing after `--` is touched.
 */
export function waitArgs(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => (a === '--wait' && (end < 0 || i < end) ? '--wait=' : a));
}

/** The option's value in milliseconds; '' (a bare --wait) is the default bound. */
export function parseWaitOption(value: string): number {
  return parseDuration(value === '' ? DEFAULT_WAIT : value);
}

/** 0: do not wait (exit 75 at once). */
export function waitMsOf(opts: GlobalOptions): number {
  if (opts.wait === undefined || opts.wait === false) return 0;
  return typeof opts.wait === 'number' ? opts.wait : parseWaitOption('');
}

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
  const lock = await HostLock.acquire(paths.lockFile, { waitMs: waitMsOf(opts), log });
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
