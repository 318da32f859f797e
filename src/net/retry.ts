/**
 * Which failures are worth another attempt, and the bounded retry loop around them (p-retry:
 * exponential backoff with jitter). Transient: connection errors, timeouts, a body cut short,
 * HTTP 408, 429 and 5xx. Everything else (other 4xx, verification failures, a server that
 * breaks the protocol) fails at once, and the caller moves on to the next mirror.
 */
import pRetry from 'p-retry';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AgentError } from '../errors.ts';

/** The same failure, marked worth another attempt (the mark is a field of the error). */
export function markTransient(err: AgentError, retryAfterMs?: number): AgentError {
  return new AgentError(err.code, err.message, {
    cause: err.cause,
    transient: true,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
  });
}

export function isTransient(err: unknown): boolean {
  return err instanceof AgentError && err.transient;
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
  /** Each retry is logged here (info): attempt n/N, the delay and the reason. */
  log?: Pick<Logger, 'info'> | undefined;
}

/** The retry bounds of the configuration's `network` (PRODUCT.md section 4). */
export function retryOptionsOf(network: { attempts: number; maxTotalSec: number }): RetryOptions {
  return { attempts: network.attempts, maxTotalMs: network.maxTotalSec * 1000 };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
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
    onFailedAttempt: async ({ error, attemptNumber, retriesLeft, retryDelay }) => {
      // Honour the server's Retry-After, within what is left of the total bound. p-retry calls
      // this after the last attempt too: then no retry follows, so there is nothing to wait for.
      const wait = error instanceof AgentError ? error.retryAfterMs : undefined;
      const left = opts.maxTotalMs - (Date.now() - started);
      const extra = retriesLeft > 0 && wait !== undefined && wait > 0 && wait < left ? wait : 0;
      // Only what is really retried is logged: the last failure is the caller's to report.
      if (retriesLeft > 0 && left > 0 && isTransient(error)) {
        const delayMs = extra + retryDelay;
        opts.log?.info(
          { attempt: attemptNumber, attempts: opts.attempts },
          `attempt ${attemptNumber}/${opts.attempts} failed: ${error.message}; retrying in ${seconds(delayMs)}${extra > 0 ? ' (Retry-After)' : ''}`,
        );
      }
      if (extra > 0) await sleep(extra);
    },
  });
}
