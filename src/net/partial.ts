/**
 * A partial download and what it was fetched as: `NAME_VERSION.raw.part` holds the bytes,
 * `NAME_VERSION.raw.part.meta` the URL, the validator (strong ETag, else Last-Modified) and the
 * manifest entry it belongs to. A resume is only attempted with If-Range on that validator, so a
 * changed file on the server answers 200 and the download restarts from zero (RFC 9110 13.1.5).
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../store/atomic.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { partialMetaPath } from '../store/layout.ts';

export interface PartialMeta {
  url: string;
  etag?: string | undefined;
  lastModified?: string | undefined;
  size: number;
  sha256: string;
}

const metaPathOf = partialMetaPath;

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
  | { from: number; validator: string; restart?: undefined }
  | { from: 0; validator?: undefined; restart?: string | undefined };

export async function resumeDecision(
  partial: string,
  entry: ImageEntry,
  url: string,
): Promise<ResumeDecision> {
  const have = await stat(partial).then(
    (s) => s.size,
    () => null,
  );
  const text = await readFile(metaPathOf(partial), 'utf8').catch(() => null);
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

export async function discardPartial(partial: string): Promise<void> {
  await rm(partial, { force: true });
  await rm(metaPathOf(partial), { force: true });
}

/** The validator to send in If-Range: weak ETags may not be used there (RFC 9110 13.1.5). */
export function ifRangeValidator(meta: PartialMeta): string | undefined {
  if (meta.etag && !meta.etag.startsWith('W/')) return meta.etag;
  return meta.lastModified;
}

/** Feeds the first `length` bytes already on disk to `update` (to rebuild hash state on resume). */
export async function replayPartial(
  partial: string,
  length: number,
  update: (chunk: Buffer) => void,
): Promise<void> {
  const handle = await open(partial, 'r');
  const buffer = Buffer.allocUnsafe(1 << 20);
  try {
    for (let pos = 0; pos < length;) {
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(buffer.length, length - pos),
        pos,
      );
      if (bytesRead === 0) throw new Error(`partial download ${partial} is shorter than recorded`);
      update(buffer.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
