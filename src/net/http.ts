/**
 * The one module that speaks HTTP (undici). Timeouts map to PRODUCT.md section 4 `network`:
 * connect timeout, and body inactivity (undici's bodyTimeout is the time between chunks, so a
 * slow body that keeps moving is not cut). Retries and their total bound use p-retry.
 */
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import pRetry, { AbortError } from 'p-retry';
import { AgentError } from '../errors.ts';

export interface NetworkOptions {
  connectTimeoutSec: number;
  idleTimeoutSec: number;
  attempts: number;
  maxTotalSec: number;
}

export interface HttpClient {
  /** GET a small document, refusing bodies larger than `maxBytes`. */
  getBytes(url: string, maxBytes: number): Promise<Buffer>;
  /** GET a body of exactly `expectedSize` bytes into `sink`; `start` runs before each attempt. */
  stream(url: string, expectedSize: number, sink: BodySink): Promise<void>;
  close(): Promise<void>;
}

export interface BodySink {
  start(): Promise<void>;
  write(chunk: Buffer): Promise<void>;
}

const MAX_REDIRECTS = 5;

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

async function openBody(dispatcher: Dispatcher, url: string): Promise<Dispatcher.ResponseData> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { dispatcher, method: 'GET' });
  } catch (err) {
    throw new AgentError('NETWORK', `GET ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    const error = new AgentError('HTTP_STATUS', `GET ${url}: HTTP ${res.statusCode}`);
    if (!isRetryableStatus(res.statusCode)) throw new AbortError(error);
    throw error;
  }
  return res;
}

function declaredLength(res: Dispatcher.ResponseData): number | undefined {
  const value = res.headers['content-length'];
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

export function createHttpClient(options: NetworkOptions): HttpClient {
  const dispatcher = new Agent({
    connect: { timeout: options.connectTimeoutSec * 1000 },
    headersTimeout: options.idleTimeoutSec * 1000,
    bodyTimeout: options.idleTimeoutSec * 1000,
  }).compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));

  const retry = <T>(fn: () => Promise<T>): Promise<T> =>
    pRetry(fn, {
      retries: options.attempts - 1,
      maxRetryTime: options.maxTotalSec * 1000,
      minTimeout: 500,
      randomize: true,
      shouldRetry: ({ error }) => !(error instanceof AgentError && error.code === 'TOO_LARGE'),
    });

  return {
    getBytes: (url, maxBytes) =>
      retry(async () => {
        const res = await openBody(dispatcher, url);
        const length = declaredLength(res);
        if (length !== undefined && length > maxBytes) {
          await res.body.dump().catch(() => undefined);
          throw new AgentError(
            'TOO_LARGE',
            `GET ${url}: ${length} bytes exceeds the limit of ${maxBytes}`,
          );
        }
        const chunks: Buffer[] = [];
        let total = 0;
        try {
          for await (const chunk of res.body) {
            total += (chunk as Buffer).length;
            if (total > maxBytes) {
              res.body.destroy();
              throw new AgentError(
                'TOO_LARGE',
                `GET ${url}: body exceeds the limit of ${maxBytes} bytes`,
              );
            }
            chunks.push(chunk as Buffer);
          }
        } catch (err) {
          if (err instanceof AgentError) throw err;
          throw new AgentError('NETWORK', `GET ${url}: ${(err as Error).message}`, { cause: err });
        }
        return Buffer.concat(chunks);
      }),
    stream: (url, expectedSize, sink) =>
      retry(async () => {
        const res = await openBody(dispatcher, url);
        await sink.start();
        const length = declaredLength(res);
        if (length !== undefined && length !== expectedSize) {
          await res.body.dump().catch(() => undefined);
          throw new AbortError(
            new AgentError(
              'SIZE_MISMATCH',
              `GET ${url}: server declares ${length} bytes, manifest says ${expectedSize}`,
            ),
          );
        }
        let total = 0;
        try {
          for await (const chunk of res.body) {
            total += (chunk as Buffer).length;
            if (total > expectedSize) {
              res.body.destroy();
              throw new AbortError(
                new AgentError(
                  'SIZE_MISMATCH',
                  `GET ${url}: more than the ${expectedSize} bytes the manifest gives`,
                ),
              );
            }
            await sink.write(chunk as Buffer);
          }
        } catch (err) {
          if (err instanceof AbortError || err instanceof AgentError) throw err;
          throw new AgentError('NETWORK', `GET ${url}: ${(err as Error).message}`, { cause: err });
        }
        if (total !== expectedSize) {
          throw new AgentError(
            'SIZE_MISMATCH',
            `GET ${url}: got ${total} bytes, manifest says ${expectedSize}`,
          );
        }
      }),
    close: () => dispatcher.close(),
  };
}
