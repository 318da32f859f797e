/**
 * The repository as an interface: where manifests and images come from. `openRepositorySource`
 * routes each URL by its scheme: http(s) to the HTTP source (undici), `file:` to a local
 * directory (file-source.ts). Tests may pass their own. Whatever the source, every byte is
 * verified by the caller against the signed manifest.
 */
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import type { DocumentResult, Validators } from './document.ts';
import type { VerifiedDownload } from './download.ts';
import type { NetworkOptions } from './http.ts';
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

export type OpenSource = (network: NetworkOptions) => Promise<RepositorySource>;

/** The HTTP source; undici is loaded only when a command really talks to a repository. */
export const httpSource: OpenSource = async (network) => {
  const [{ createHttpClient }, { fetchDocument }, { downloadVerified }] = await Promise.all([
    import('./http.ts'),
    import('./document.ts'),
    import('./download.ts'),
  ]);
  const http = createHttpClient(network);
  return {
    fetchDocument: (url, maxBytes, validators) => fetchDocument(http, url, maxBytes, validators),
    downloadImage: (urls, entry, partial, progress) =>
      downloadVerified(http, urls, entry, partial, progress),
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
  return async (network) => {
    const opened: Partial<Record<Scheme, Promise<RepositorySource>>> = {};
    const sourceFor = (url: string): Promise<RepositorySource> => {
      const scheme = schemeOf(url);
      return (opened[scheme] ??= openers[scheme](network));
    };
    return {
      fetchDocument: async (url, maxBytes, validators) =>
        (await sourceFor(url)).fetchDocument(url, maxBytes, validators),
      downloadImage: async (urls, entry, partial, progress) => {
        let lastError: unknown = new AgentError(
          'CONFIG',
          `image ${entry.path}: no repository to download from`,
        );
        for (const url of urls) {
          try {
            return await (await sourceFor(url)).downloadImage([url], entry, partial, progress);
          } catch (err) {
            lastError = err;
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
