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

export async function readPartial(
  partial: string,
  entry: ImageEntry,
): Promise<{ meta: PartialMeta; have: number } | null> {
  try {
    const meta = JSON.parse(await readFile(metaPathOf(partial), 'utf8')) as PartialMeta;
    const have = (await stat(partial)).size;
    if (meta.size !== entry.size || meta.sha256 !== entry.sha256 || have > entry.size) return null;
    return { meta, have };
  } catch {
    return null;
  }
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
