/**
 * The slow-retrieval bounds of src/net/deadline.ts on their own: the rate floor over a sliding
 * window (images) with a simulated clock, and the document deadline turning an aborted fetch
 * into SLOW_RETRIEVAL. The CLI cases against a dripping server are in slow-retrieval.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RateFloor, withDeadline } from '../../src/net/deadline.ts';

/** Feeds `bytes` every `everyMs` for `forMs`; returns the time of the first failure, or null. */
function feed(floor: RateFloor, bytes: number, everyMs: number, forMs: number): number | null {
  for (let t = everyMs; t <= forMs; t += everyMs) if (floor.add(bytes, t) !== null) return t;
  return null;
}

describe('RateFloor: minimum average rate over a window', () => {
  const options = { minBytesPerSec: 1024, rateWindowSec: 60 };

  it('a drip (1 byte every 500 ms) fails after one window, not before', () => {
    const failedAt = feed(new RateFloor(options, 0), 1, 500, 3_600_000);
    expect(failedAt).toBe(60_000);
  });

  it('a steady link just above the floor never fails (an hour at 1.1 KiB/s)', () => {
    expect(feed(new RateFloor(options, 0), 1126, 1000, 3_600_000)).toBeNull();
  });

  it('a slow start is forgiven while the window fills; a later slump below the floor is not', () => {
    const floor = new RateFloor(options, 0);
    // Nothing for 50 s, then fast: the first window holds enough.
    expect(floor.add(1, 50_000)).toBeNull();
    expect(floor.add(10 * 1024 * 1024, 55_000)).toBeNull();
    expect(feed(floor, 100_000, 1000, 120_000)).toBeNull();
    // Then a drip: cut once the fast bytes have left the window.
    const at = [];
    for (let t = 121_000; t < 400_000; t += 500) if (floor.add(1, t) !== null) at.push(t);
    expect(at[0]).toBeGreaterThan(121_000);
    expect(at[0]).toBeLessThanOrEqual(121_000 + 61_000);
  });

  it('minBytesPerSec 0 turns it off; the error is SLOW_RETRIEVAL and transient (a retry resumes)', () => {
    expect(feed(new RateFloor({ minBytesPerSec: 0 }, 0), 1, 500, 3_600_000)).toBeNull();
    const err = new RateFloor(options, 0).describe('http://x/i.raw', 5);
    expect(err.code).toBe('SLOW_RETRIEVAL');
    expect(err.transient).toBe(true);
    expect(err.message).toContain('minBytesPerSec');
  });
});

describe('withDeadline: a total deadline per document fetch', () => {
  it('aborts the fetch at the deadline: SLOW_RETRIEVAL, not transient', async () => {
    const never = (signal: AbortSignal) =>
      new Promise<never>((_, fail) =>
        signal.addEventListener('abort', () => fail(new Error('cut'))),
      );
    const err = await withDeadline('http://x/manifest.json', { documentTimeoutSec: 0.05 }, never)
      .then(() => null)
      .catch((e: unknown) => e as { code: string; transient: boolean; message: string });
    expect(err?.code).toBe('SLOW_RETRIEVAL');
    expect(err?.transient).toBe(false);
    expect(err?.message).toContain('documentTimeoutSec');
  });

  it('a fetch that ends in time returns its result; its own failures pass through', async () => {
    expect(await withDeadline('u', { documentTimeoutSec: 5 }, async () => 42)).toBe(42);
    await expect(
      withDeadline('u', { documentTimeoutSec: 5 }, async () => {
        throw new Error('own');
      }),
    ).rejects.toThrow('own');
  });
});
