/**
 * The one module that speaks HTTP (undici). Timeouts map to PRODUCT.md section 4 `network`:
 * connect timeout, and body inactivity (undici's headersTimeout/bodyTimeout are the time
 * between bytes, so a slow body that keeps moving is not cut). Redirects are followed here,
 * not by an interceptor, so that an https URL is never redirected to plain http.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { AgentError } from '../errors.ts';
import { isRetryableStatus, markTransient, parseRetryAfter, withRetries } from './retry.ts';

export interface NetworkOptions {
  connectTimeoutSec: number;
  idleTimeoutSec: number;
  attempts: number;
  maxTotalSec: number;
}

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  header(name: string): string | undefined;
  body: ResponseBody;
}

export interface HttpClient {
  /** One GET (redirects followed); statuses other than 2xx/304 become AgentErrors. */
  get(url: string, headers?: Record<string, string>): Promise<HttpResponse>;
  /** Runs `fn` with the configured attempts and total time bound. */
  retry<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function headerOf(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function networkError(url: string, err: unknown): AgentError {
  return markTransient(
    new AgentError('NETWORK', `GET ${url}: ${(err as Error).message}`, { cause: err }),
  );
}

function nextLocation(from: string, location: string | undefined): string {
  if (!location) throw new AgentError('NETWORK', `GET ${from}: redirect without Location`);
  const next = new URL(location, from);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new AgentError('NETWORK', `GET ${from}: redirect to unsupported scheme ${next.protocol}`);
  }
  if (new URL(from).protocol === 'https:' && next.protocol === 'http:') {
    throw new AgentError(
      'INSECURE_REDIRECT',
      `GET ${from}: refusing redirect from https to ${next.href}`,
    );
  }
  return next.href;
}

async function statusError(url: string, res: Dispatcher.ResponseData): Promise<AgentError> {
  await res.body.dump().catch(() => undefined);
  const err = new AgentError('HTTP_STATUS', `GET ${url}: HTTP ${res.statusCode}`);
  return isRetryableStatus(res.statusCode)
    ? markTransient(err, parseRetryAfter(headerOf(res, 'retry-after')))
    : err;
}

export function createHttpClient(options: NetworkOptions): HttpClient {
  const dispatcher = new Agent({
    connect: { timeout: options.connectTimeoutSec * 1000 },
    headersTimeout: options.idleTimeoutSec * 1000,
    bodyTimeout: options.idleTimeoutSec * 1000,
  });

  async function get(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, { dispatcher, method: 'GET', headers });
      } catch (err) {
        throw networkError(current, err);
      }
      if (REDIRECTS.has(res.statusCode)) {
        await res.body.dump().catch(() => undefined);
        if (hop >= MAX_REDIRECTS)
          throw new AgentError('NETWORK', `GET ${url}: more than ${MAX_REDIRECTS} redirects`);
        current = nextLocation(current, headerOf(res, 'location'));
        continue;
      }
      if (
        (res.statusCode < 200 || res.statusCode > 299) &&
        res.statusCode !== 304 &&
        res.statusCode !== 416
      ) {
        throw await statusError(current, res);
      }
      const answered = res;
      return {
        status: res.statusCode,
        url: current,
        header: (n) => headerOf(answered, n),
        body: res.body,
      };
    }
  }

  return {
    get,
    retry: (fn) =>
      withRetries({ attempts: options.attempts, maxTotalMs: options.maxTotalSec * 1000 }, fn),
    close: () => dispatcher.close(),
  };
}

/** Reads a body chunk by chunk; stream errors (cut connection, idle timeout) are transient. */
export async function* chunksOf(res: HttpResponse): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of res.body) yield chunk as Buffer;
  } catch (err) {
    throw networkError(res.url, err);
  }
}
