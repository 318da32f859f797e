/**
 * Small documents (the manifest, keys documents): size-capped, time-capped (a total deadline
 * per attempt, headers included: deadline.ts), conditional on the validators of the copy we
 * already have, so that a poll that finds nothing new is one request answered 304.
 */
import { AgentError } from '../errors.ts';
import { withDeadline, type SlowOptions } from './deadline.ts';
import { chunksOf, type HttpClient } from './http.ts';
import type { NetLog } from './source.ts';
import { conditionalHeaders, type Validators } from './validators.ts';

export type DocumentResult =
  { status: 304 } | { status: 200; bytes: Buffer; validators: Validators };

export async function fetchDocument(
  http: HttpClient,
  url: string,
  maxBytes: number,
  validators?: Validators,
  log?: NetLog,
  slow: SlowOptions = {},
): Promise<DocumentResult> {
  return http.retry(() =>
    withDeadline(url, slow, (signal) => fetchOnce(http, url, maxBytes, validators, log, signal)),
  );
}

async function fetchOnce(
  http: HttpClient,
  url: string,
  maxBytes: number,
  validators: Validators | undefined,
  log: NetLog | undefined,
  signal: AbortSignal,
): Promise<DocumentResult> {
  const res = await http.get(url, conditionalHeaders(validators), signal);
  if (res.status === 304 && validators) {
    log?.debug({ url }, `GET ${url}: not modified since the copy we have (304)`);
    await res.body.dump().catch(() => undefined);
    return { status: 304 } as const;
  }
  if (res.status !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new AgentError('HTTP_STATUS', `GET ${url}: unexpected HTTP ${res.status}`, {
      httpStatus: res.status,
    });
  }
  const declared = Number(res.header('content-length') ?? NaN);
  if (declared > maxBytes) {
    res.body.destroy();
    throw new AgentError(
      'TOO_LARGE',
      `GET ${url}: ${declared} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  // The deadline bounds a document; the images' rate floor does not apply (not retried here).
  for await (const chunk of chunksOf(res, false)) {
    total += chunk.length;
    if (total > maxBytes) {
      res.body.destroy();
      throw new AgentError('TOO_LARGE', `GET ${url}: body exceeds the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return {
    status: 200,
    bytes: Buffer.concat(chunks),
    validators: { etag: res.header('etag'), lastModified: res.header('last-modified') },
  } as const;
}
