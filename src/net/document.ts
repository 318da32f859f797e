/**
 * Small documents (the manifest): size-capped, conditional on the validators of the copy we
 * already have, so that a poll that finds nothing new is one request answered 304.
 */
import { AgentError } from '../errors.ts';
import { chunksOf, type HttpClient } from './http.ts';
import type { NetLog } from './source.ts';

export interface Validators {
  etag?: string | undefined;
  lastModified?: string | undefined;
}

export type DocumentResult =
  { status: 304 } | { status: 200; bytes: Buffer; validators: Validators };

export function conditionalHeaders(v: Validators | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (v?.etag) headers['if-none-match'] = v.etag;
  if (v?.lastModified) headers['if-modified-since'] = v.lastModified;
  return headers;
}

export async function fetchDocument(
  http: HttpClient,
  url: string,
  maxBytes: number,
  validators?: Validators,
  log?: NetLog,
): Promise<DocumentResult> {
  return http.retry(async () => {
    const res = await http.get(url, conditionalHeaders(validators));
    if (res.status === 304 && validators) {
      log?.debug({ url }, `GET ${url}: not modified since the copy we have (304)`);
      await res.body.dump().catch(() => undefined);
      return { status: 304 } as const;
    }
    if (res.status !== 200) {
      await res.body.dump().catch(() => undefined);
      throw new AgentError('HTTP_STATUS', `GET ${url}: unexpected HTTP ${res.status}`);
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
    for await (const chunk of chunksOf(res)) {
      total += chunk.length;
      if (total > maxBytes) {
        res.body.destroy();
        throw new AgentError(
          'TOO_LARGE',
          `GET ${url}: body exceeds the limit of ${maxBytes} bytes`,
        );
      }
      chunks.push(chunk);
    }
    return {
      status: 200,
      bytes: Buffer.concat(chunks),
      validators: { etag: res.header('etag'), lastModified: res.header('last-modified') },
    } as const;
  });
}
