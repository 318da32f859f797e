/**
 * The one module that speaks HTTP (undici). Timeouts map to PRODUCT.md section 4 `network`:
 * connect timeout, and body inactivity (undici's headersTimeout/bodyTimeout are the time
 * between bytes, so a slow body that keeps moving is not cut). Redirects are followed here,
 * not by an interceptor, so that an https URL is never redirected to plain http.
 *
 * Proxies come from the standard environment variables (proxy.ts); each hop picks its own, so a
 * redirect to a host in NO_PROXY goes direct. The same timeouts apply through a proxy: undici's
 * ProxyAgent takes the connect timeout as `connectTimeout` and builds the connection to a
 * plain-http proxy with its `factory` (which would otherwise get undici's 300 s defaults).
 *
 * Connection failures become one line that names the cause and the fix (describe.ts).
 */
import { Agent, Pool, ProxyAgent, request, type Dispatcher } from 'undici';
import { AgentError } from '../errors.ts';
import { RateFloor, type SlowOptions } from './deadline.ts';
import { describeFailure, type Hop } from './describe.ts';
import { received } from './meter.ts';
import { configuredProxies, proxyFor, type Env, type ProxyChoice } from './proxy.ts';
import { isRetryableStatus, markTransient, parseRetryAfter, withRetries } from './retry.ts';

export interface NetworkOptions {
  connectTimeoutSec: number;
  idleTimeoutSec: number;
  attempts: number;
  maxTotalSec: number;
  /** Slow retrieval bounds (deadline.ts); absent: the defaults of config/schema.ts. */
  documentTimeoutSec?: number | undefined;
  minBytesPerSec?: number | undefined;
  rateWindowSec?: number | undefined;
}

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  /** The proxy it came through, or null. */
  proxy: ProxyChoice | null;
  header(name: string): string | undefined;
  body: ResponseBody;
  /** The minimum rate its body must keep (deadline.ts RateFloor), read by chunksOf. */
  slow?: SlowOptions;
}

export interface HttpClient {
  /**
   * One GET (redirects followed); statuses other than 2xx/304 become AgentErrors. `signal`
   * aborts it, body included (the document deadline, deadline.ts).
   */
  get(url: string, headers?: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse>;
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

function networkError(hop: Hop, err: unknown): AgentError {
  const { text, transient } = describeFailure(hop, err);
  const error = new AgentError('NETWORK', `GET ${hop.url}: ${text}`, { cause: err });
  return transient ? markTransient(error) : error;
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

async function statusError(hop: Hop, res: Dispatcher.ResponseData): Promise<AgentError> {
  await res.body.dump().catch(() => undefined);
  const via = hop.proxy ? ` (through the proxy ${hop.proxy.display})` : '';
  const err = new AgentError('HTTP_STATUS', `GET ${hop.url}: HTTP ${res.statusCode}${via}`, {
    httpStatus: res.statusCode,
  });
  return isRetryableStatus(res.statusCode)
    ? markTransient(err, parseRetryAfter(headerOf(res, 'retry-after')))
    : err;
}

export function createHttpClient(options: NetworkOptions, env: Env = process.env): HttpClient {
  // A malformed proxy variable is a configuration error before any request.
  configuredProxies(env);
  const timeouts = {
    headersTimeout: options.idleTimeoutSec * 1000,
    bodyTimeout: options.idleTimeoutSec * 1000,
  };
  const direct = new Agent({ connect: { timeout: options.connectTimeoutSec * 1000 }, ...timeouts });
  const proxies = new Map<string, ProxyAgent>();

  function dispatcherFor(proxy: ProxyChoice | null): Dispatcher {
    if (!proxy) return direct;
    let agent = proxies.get(proxy.uri);
    if (!agent) {
      agent = new ProxyAgent({
        uri: proxy.uri,
        connectTimeout: options.connectTimeoutSec * 1000,
        ...timeouts,
        factory: (origin, opts) => new Pool(origin, { ...opts, ...timeouts }),
      });
      proxies.set(proxy.uri, agent);
    }
    return agent;
  }

  async function get(
    url: string,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const at: Hop = { url: current, proxy: proxyFor(current, env), options };
      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, {
          dispatcher: dispatcherFor(at.proxy),
          method: 'GET',
          headers,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw networkError(at, err);
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
        throw await statusError(at, res);
      }
      const answered = res;
      return {
        status: res.statusCode,
        url: current,
        proxy: at.proxy,
        header: (n) => headerOf(answered, n),
        body: res.body,
        slow: options,
      };
    }
  }

  return {
    get,
    retry: (fn) =>
      withRetries({ attempts: options.attempts, maxTotalMs: options.maxTotalSec * 1000 }, fn),
    close: async () => {
      await Promise.all([direct.close(), ...[...proxies.values()].map((p) => p.close())]);
    },
  };
}

/**
 * Reads a body chunk by chunk; stream errors (cut connection, idle timeout) are transient. With
 * `rateFloor` (images), a body slower than `network.minBytesPerSec` over the last
 * `network.rateWindowSec` fails SLOW_RETRIEVAL (transient: a retry resumes where it stopped);
 * the idle timeout bounds the wait for the next chunk, where the check runs.
 */
export async function* chunksOf(res: HttpResponse, rateFloor = true): AsyncGenerator<Buffer> {
  const floor = rateFloor && res.slow ? new RateFloor(res.slow, Date.now()) : null;
  let tooSlow: AgentError | null = null;
  try {
    for await (const chunk of res.body) {
      received.bytes += (chunk as Buffer).length;
      const got = floor?.add((chunk as Buffer).length, Date.now()) ?? null;
      if (floor && got !== null) {
        tooSlow = floor.describe(res.url, got);
        break;
      }
      yield chunk as Buffer;
    }
  } catch (err) {
    throw networkError({ url: res.url, proxy: res.proxy, options: null }, err);
  }
  if (tooSlow) {
    res.body.destroy();
    throw tooSlow;
  }
}
