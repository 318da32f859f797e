/**
 * A partial download and what it was fetched as: `NAME_VERSION.raw.part` holds the bytes,
 * `NAME_VERSION.raw.part.meta` the URL, the validator (strong ETag, else Last-Modified) and the
 * manifest entry it belongs to. A resume is only attempted with If-Range on that validator, so a
 * changed file on the server answers 200 and the download restarts from zero (RFC 9110 13.1.5).
 */
import { writeFileAtomic } from '../store/atomic.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { partialMetaPath } from '../store/layout.ts';
import { foreign, kindOf, lstatOrNull, readSmallFile, unlinkEntry } from '../store/nofollow.ts';

export interface PartialMeta {
  url: string;
  etag?: string | undefined;
  lastModified?: string | undefined;
  size: number;
  sha256: string;
}

const metaPathOf = partialMetaPath;

/** A record is a URL, two validators and a hash: anything longer was not written by the agent. */
const META_MAX = 64 * 1024;

function parseMeta(text: string | null): PartialMeta | null {
  try {
    return text === null ? null : (JSON.parse(text) as PartialMeta);
  } catch {
    return null;
  }
}

/**
 * What to do with the partial download of `entry` before asking `url` for it: resume after
 * `from` bytes with If-Range on `validator`, or start from zero; `restart` says why a partial
 * that exists is not resumed (for the log).
 */
export type ResumeDecision =
  | { from: number; validator: string; restart?: undefined; planted?: undefined }
  | {
      from: 0;
      validator?: undefined;
      restart?: string | undefined;
      /** The partial was not a file the agent wrote (a symlink, a FIFO): worth a warning. */
      planted?: boolean;
    };

/**
 * The size of the partial download, or null when there is none. Only a regular file is one: a
 * symlink (to a file anyone may change after verification), a FIFO or a device is not resumed
 * from, and a directory, which discarding would have to delete recursively, is refused.
 */
async function partialSize(partial: string): Promise<number | string | null> {
  const info = await lstatOrNull(partial);
  if (!info) return null;
  if (info.isFile()) return info.size;
  if (info.isDirectory())
    throw foreign(partial, 'a directory', 'a partial download', 'move it away and run again');
  return kindOf(info);
}

export async function resumeDecision(
  partial: string,
  entry: ImageEntry,
  url: string,
): Promise<ResumeDecision> {
  const size = await partialSize(partial);
  if (typeof size === 'string')
    return {
      from: 0,
      restart: `is ${size}, not a file the agent wrote: discarded (never followed)`,
      planted: true,
    };
  const have = size;
  const text = await readSmallFile(metaPathOf(partial), META_MAX).catch(() => null);
  if (have === null && text === null) return { from: 0 };
  const meta = parseMeta(text);
  if (!meta || typeof meta !== 'object') return { from: 0, restart: 'has no readable record' };
  if (meta.size !== entry.size || meta.sha256 !== entry.sha256)
    return { from: 0, restart: 'is of another build of the image (size or SHA-256 differ)' };
  if (have === null || have === 0) return { from: 0 };
  if (have > entry.size) return { from: 0, restart: 'is longer than the image' };
  if (meta.url !== url) return { from: 0, restart: `was fetched from another URL, ${meta.url}` };
  const validator = ifRangeValidator(meta);
  if (!validator)
    return { from: 0, restart: 'has no strong ETag or Last-Modified from the server to resume on' };
  return { from: have, validator };
}

export async function writePartialMeta(partial: string, meta: PartialMeta): Promise<void> {
  await writeFileAtomic(metaPathOf(partial), JSON.stringify(meta) + '\n', 0o600);
}

/**
 * Removes a partial download and its record: unlink only, so a planted symlink goes and what it
 * points at stays; a directory in their place is refused, not deleted recursively.
 */
export async function discardPartial(partial: string): Promise<void> {
  for (const path of [partial, metaPathOf(partial)]) await unlinkEntry(path, 'a partial download');
}

/** The validator to send in If-Range: weak ETags may not be used there (RFC 9110 13.1.5). */
export function ifRangeValidator(meta: PartialMeta): string | undefined {
  if (meta.etag && !meta.etag.startsWith('W/')) return meta.etag;
  return meta.lastModified;
}
