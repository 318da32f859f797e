/**
 * Which failures are worth another attempt, and the bounded retry loop around them (p-retry:
 * exponential backoff with jitter). Transient: connection errors, timeouts, a body cut short,
 * HTTP 408, 429 and 5xx. Everything else (other 4xx, verification failures, a server that
 * breaks the protocol) fails at once, and the caller moves on to the next mirror.
 */
import pRetry from 'p-retry';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentError } from '../errors.ts';

const transient = new WeakMap<Error, { retryAfterMs?: number }>();

export function markTransient(err: AgentError, retryAfterMs?: number): AgentError {
  transient.set(err, retryAfterMs === undefined ? {} : { retryAfterMs });
  return err;
}

export function isTransient(err: unknown): boolean {
  return err instanceof Error && transient.has(err);
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface RetryOptions {
  attempts: number;
  maxTotalMs: number;
  minDelayMs?: number;
}

export async function withRetries<T>(opts: RetryOptions, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  return pRetry(fn, {
    retries: Math.max(0, opts.attempts - 1),
    maxRetryTime: opts.maxTotalMs,
    minTimeout: opts.minDelayMs ?? 500,
    maxTimeout: 30_000,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => isTransient(error),
    onFailedAttempt: async ({ error, retriesLeft }) => {
      // Honour the server's Retry-After, within what is left of the total bound. p-retry calls
      // this after the last attempt too: then no retry follows, so there is nothing to wait for.
      const wait = transient.get(error as Error)?.retryAfterMs;
      const left = opts.maxTotalMs - (Date.now() - started);
      if (retriesLeft > 0 && wait !== undefined && wait > 0 && wait < left) await sleep(wait);
    },
  });
}
