/**
 * Slow retrieval (TUF specification, "slow retrieval attacks"): a server that keeps a transfer
 * alive with a byte now and then defeats the idle timeout (undici's bodyTimeout is the time
 * between bytes) and would hold the agent's lock for days. Two bounds, from `network` in the
 * configuration (docs/operations.md, "Slow servers"):
 *
 * - documents (the manifest, keys documents): a total deadline per fetch, headers included;
 * - images (sizes up to GiB, links of any speed): a minimum average rate over a sliding window,
 *   so a slow link that keeps moving completes and a drip is cut after one window.
 */
import { AgentError } from '../errors.ts';
import { markTransient } from './retry.ts';

/** The defaults of config/schema.ts, for callers that build NetworkOptions by hand. */
export const SLOW_DEFAULTS = { documentTimeoutSec: 60, minBytesPerSec: 1024, rateWindowSec: 60 };

export interface SlowOptions {
  documentTimeoutSec?: number | undefined;
  minBytesPerSec?: number | undefined;
  rateWindowSec?: number | undefined;
}

/**
 * Aborts `fn`'s request when the deadline passes; the abort becomes SLOW_RETRIEVAL, not the
 * NETWORK error the cut stream would raise. Not transient: a new attempt at the same server
 * costs the same deadline again, so the caller moves on to the next mirror.
 */
export async function withDeadline<T>(
  url: string,
  options: SlowOptions,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const sec = options.documentTimeoutSec ?? SLOW_DEFAULTS.documentTimeoutSec;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), sec * 1000);
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    throw new AgentError(
      'SLOW_RETRIEVAL',
      `GET ${url}: not complete after ${sec} s (network.documentTimeoutSec): the server is too slow, or stalls on purpose`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The bytes received over the last `windowSec` seconds must reach `minBytesPerSec * windowSec`.
 * Samples are kept at most one a second (ten a window for shorter windows), so memory is
 * bounded by the window, whatever the chunk size. The first check comes one full window after the start (a slow start, TCP slow
 * start or a cold CDN cache, is not punished). `minBytesPerSec` 0 turns the check off.
 */
export class RateFloor {
  private readonly samples: { at: number; total: number }[];
  private readonly sampleMs: number;
  private total = 0;
  private readonly windowMs: number;
  private readonly floor: number;
  private readonly started: number;

  constructor(options: SlowOptions, started: number) {
    this.started = started;
    this.windowMs = (options.rateWindowSec ?? SLOW_DEFAULTS.rateWindowSec) * 1000;
    this.floor = options.minBytesPerSec ?? SLOW_DEFAULTS.minBytesPerSec;
    this.sampleMs = Math.min(1000, this.windowMs / 10);
    this.samples = [{ at: started, total: 0 }];
  }

  /** Records `bytes` received at `now`; returns the bytes of the last window when too slow. */
  add(bytes: number, now: number): number | null {
    this.total += bytes;
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.at >= this.sampleMs) this.samples.push({ at: now, total: this.total });
    if (this.floor === 0 || now - this.started < this.windowMs) return null;
    // The newest sample at least one window old: the window measured is never shorter than
    // configured (a little longer at most), so the check errs on the lenient side.
    while (this.samples.length > 1 && (this.samples[1] as { at: number }).at <= now - this.windowMs)
      this.samples.shift();
    const from = this.samples[0] as { at: number; total: number };
    const got = this.total - from.total;
    return got < (this.floor * this.windowMs) / 1000 ? got : null;
  }

  describe(url: string, got: number): AgentError {
    const sec = this.windowMs / 1000;
    return markTransient(
      new AgentError(
        'SLOW_RETRIEVAL',
        `GET ${url}: only ${got} bytes in the last ${sec} s, below the minimum of ${this.floor} bytes/s (network.minBytesPerSec over network.rateWindowSec)`,
      ),
    );
  }
}
