/**
 * The repository as an interface: where manifests and images come from. `openRepositorySource`
 * routes each URL by its scheme: http(s) to the HTTP source (undici), `file:` to a local
 * directory (file-source.ts). Tests may pass their own. Whatever the source, every byte is
 * verified by the caller against the signed manifest.
 */
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import type { Logger } from 'pino';
import type { DocumentResult } from './document.ts';
import type { Validators } from './validators.ts';
import type { VerifiedDownload } from './download.ts';
import type { HttpClient, NetworkOptions } from './http.ts';
import type { Progress } from './receive.ts';

export interface RepositorySource {
  /** A small document (the manifest), at most `maxBytes`, conditional on `validators`. */
  fetchDocument(url: string, maxBytes: number, validators?: Validators): Promise<DocumentResult>;
  /** An image into `partial`, resumed and verified while it streams (mirror URLs in order). */
  downloadImage(
    urls: readonly string[],
    entry: ImageEntry,
    partial: string,
    progress?: Progress,
  ): Promise<VerifiedDownload>;
  close(): Promise<void>;
}

/** Where the network layer logs its decisions: retries, redirects, resumes, mirror fallbacks. */
export type NetLog = Pick<Logger, 'info' | 'warn' | 'debug'>;

/** The repository an image URL belongs to: the URL without the image's path. */
export function repositoryOf(url: string, path: string): string {
  return url.endsWith(path) ? url.slice(0, url.length - path.length) : url;
}

/** Logs the move from a failed mirror to the next one (PRODUCT.md section 4 `repositories`). */
export function logMirrorFallback(
  log: NetLog | undefined,
  entry: ImageEntry,
  from: string,
  to: string,
  err: unknown,
): void {
  const [a, b] = [repositoryOf(from, entry.path), repositoryOf(to, entry.path)];
  const why = err instanceof Error ? err.message : String(err);
  log?.warn(
    { path: entry.path, from: a, to: b },
    `${entry.path}: ${a} failed (${why}); trying ${b}`,
  );
}

/** `log`: where retries, redirects, resume decisions and mirror fallbacks are logged. */
export type OpenSource = (network: NetworkOptions, log?: NetLog) => Promise<RepositorySource>;

/**
 * The client with its retries logged (attempt n/N, delay, reason) and each redirect that was
 * followed (the URL asked for and the one that answered).
 */
function loggedClient(http: HttpClient, log: NetLog, retry: HttpClient['retry']): HttpClient {
  return {
    get: async (url, headers, signal) => {
      const res = await http.get(url, headers, signal);
      if (res.url !== url)
        log.info({ from: url, to: res.url }, `GET ${url}: redirected to ${res.url}`);
      return res;
    },
    retry,
    close: () => http.close(),
  };
}

/** The HTTP source; undici is loaded only when a command really talks to a repository. */
export const httpSource: OpenSource = async (network, log) => {
  const [
    { createHttpClient },
    { fetchDocument },
    { downloadVerified },
    { withRetries, retryOptionsOf },
  ] = await Promise.all([
    import('./http.ts'),
    import('./document.ts'),
    import('./download.ts'),
    import('./retry.ts'),
  ]);
  const plain = createHttpClient(network);
  // The same bounds as the client's own retry, plus the log (http.ts takes no logger).
  const http = log
    ? loggedClient(plain, log, (fn) => withRetries({ ...retryOptionsOf(network), log }, fn))
    : plain;
  return {
    fetchDocument: (url, maxBytes, validators) =>
      fetchDocument(http, url, maxBytes, validators, log, network),
    downloadImage: (urls, entry, partial, progress) =>
      downloadVerified(http, urls, entry, partial, progress, log),
    close: () => http.close(),
  };
};

/** A local directory (a USB stick, mounted media, an air-gapped mirror); `network` is unused. */
export const fileSource: OpenSource = async () => {
  const { createFileSource } = await import('./file-source.ts');
  return createFileSource();
};

type Scheme = 'http' | 'file';

function schemeOf(url: string): Scheme {
  const protocol = URL.canParse(url) ? new URL(url).protocol : '';
  if (protocol === 'http:' || protocol === 'https:') return 'http';
  if (protocol === 'file:') return 'file';
  throw new AgentError('UNSUPPORTED', `${url}: not an http(s) or file URL`);
}

/**
 * A source that sends each URL to the source for its scheme, each opened on first use: an
 * update from a local directory loads no undici, one over HTTP does not load the file source.
 * Image mirrors are tried in the order given, whatever their schemes; the last failure is thrown.
 */
export function routedSource(
  openers: Record<Scheme, OpenSource> = { http: httpSource, file: fileSource },
): OpenSource {
  return async (network, log) => {
    const opened: Partial<Record<Scheme, Promise<RepositorySource>>> = {};
    const sourceFor = (url: string): Promise<RepositorySource> => {
      const scheme = schemeOf(url);
      return (opened[scheme] ??= openers[scheme](network, log));
    };
    return {
      fetchDocument: async (url, maxBytes, validators) =>
        (await sourceFor(url)).fetchDocument(url, maxBytes, validators),
      downloadImage: async (urls, entry, partial, progress) => {
        let lastError: unknown = new AgentError(
          'CONFIG',
          `image ${entry.path}: no repository to download from`,
        );
        for (const [i, url] of urls.entries()) {
          try {
            return await (await sourceFor(url)).downloadImage([url], entry, partial, progress);
          } catch (err) {
            lastError = err;
            const next = urls[i + 1];
            if (next !== undefined) logMirrorFallback(log, entry, url, next, err);
          }
        }
        throw lastError instanceof AgentError
          ? lastError
          : new AgentError('NETWORK', `image ${entry.path}: ${(lastError as Error)?.message}`, {
              cause: lastError,
            });
      },
      close: async () => {
        const sources = await Promise.allSettled(Object.values(opened));
        for (const s of sources) if (s.status === 'fulfilled') await s.value.close();
      },
    };
  };
}

/** What commands use: http(s) and local directories, routed by scheme. */
export const openRepositorySource: OpenSource = routedSource();
