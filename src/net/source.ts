/**
 * The repository as an interface: where manifests and images come from. HTTP(S) today
 * (`httpSource`, undici), a local directory next; tests may pass their own. Whatever the
 * source, every byte is verified by the caller against the signed manifest.
 */
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
