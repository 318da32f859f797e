/**
 * The retry loop (src/net/retry.ts) in process: which failures are retried, and how long the
 * loop waits for a server's Retry-After. The wait is read from what is handed to the sleep (a
 * mock of node:timers/promises), not from a clock, so the test asserts the decision and does
 * not depend on how fast the machine is.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import {
  isRetryableStatus,
  markTransient,
  parseRetryAfter,
  withRetries,
} from '../../src/net/retry.ts';

const sleeps = vi.hoisted((): number[] => []);
vi.mock('node:timers/promises', () => ({
  setTimeout: (ms: number) => {
    sleeps.push(ms);
    return Promise.resolve();
  },
}));

beforeEach(() => {
  sleeps.length = 0;
});

/** A function that fails with `errors` in turn, then returns 'ok'; counts its calls. */
function failing(...errors: Error[]): { fn: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    fn: async () => {
      const err = errors[calls++];
      if (err) throw err;
      return 'ok';
    },
    calls: () => calls,
  };
}

const status = (code: number, retryAfterMs?: number): AgentError => {
  const err = new AgentError('HTTP_STATUS', `HTTP ${code}`);
  return isRetryableStatus(code) ? markTransient(err, retryAfterMs) : err;
};

// minDelayMs 1: p-retry's own exponential backoff stays negligible; the Retry-After wait is
// the only sleep the loop takes through node:timers/promises.
const opts = (attempts: number, maxTotalMs = 60_000) => ({ attempts, maxTotalMs, minDelayMs: 1 });

describe('withRetries', () => {
  it('waits out Retry-After before the next attempt, then returns its result', async () => {
    const f = failing(status(429, 1000));
    await expect(withRetries(opts(2), f.fn)).resolves.toBe('ok');
    expect(f.calls()).toBe(2);
    expect(sleeps).toEqual([1000]);
  });

  it('does not wait out Retry-After when no attempt is left', async () => {
    const f = failing(status(503, 5000));
    await expect(withRetries(opts(1), f.fn)).rejects.toMatchObject({ code: 'HTTP_STATUS' });
    expect(f.calls()).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('does not wait for a Retry-After beyond what is left of the total bound', async () => {
    const f = failing(status(503, 120_000));
    await expect(withRetries(opts(2, 60_000), f.fn)).resolves.toBe('ok');
    expect(f.calls()).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it('retries 5xx up to `attempts` times without a Retry-After wait', async () => {
    const f = failing(status(500), status(502), status(503));
    await expect(withRetries(opts(3), f.fn)).rejects.toMatchObject({ code: 'HTTP_STATUS' });
    expect(f.calls()).toBe(3);
    expect(sleeps).toEqual([]);
  });

  it('does not retry a failure that is not transient (404, verification)', async () => {
    const notFound = failing(status(404));
    await expect(withRetries(opts(5), notFound.fn)).rejects.toMatchObject({
      code: 'HTTP_STATUS',
    });
    expect(notFound.calls()).toBe(1);
    const bad = failing(new AgentError('HASH_MISMATCH', 'bytes differ'));
    await expect(withRetries(opts(5), bad.fn)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(bad.calls()).toBe(1);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates (relative to now, never negative)', () => {
    const now = Date.parse('2026-11-26T10:00:00Z');
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 26 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('isRetryableStatus', () => {
  it('408, 429 and 5xx are retryable; other 4xx are not', () => {
    expect([408, 429, 500, 503, 599].map(isRetryableStatus)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([400, 401, 403, 404, 416].map(isRetryableStatus)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
