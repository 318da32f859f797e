/**
 * Downloads one image into partial/ and verifies it in the same streaming pass: size, SHA-256
 * and the dm-verity tree are computed from the bytes as they are written (PRODUCT.md promise 6).
 * An interrupted download resumes with Range + If-Range; the hash state is rebuilt from the
 * bytes already on disk, never downloaded again. Nothing here touches the store.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { VerityTreeBuilder } from '../verity/tree.ts';
import { chunksOf, type HttpClient, type HttpResponse } from './http.ts';
import {
  discardPartial,
  ifRangeValidator,
  readPartial,
  replayPartial,
  writePartialMeta,
} from './partial.ts';
import { markTransient } from './retry.ts';

export interface VerifiedDownload {
  /** The complete veritysetup-format hash file for the image, superblock included. */
  hashFile: Buffer;
  rootHash: string;
  sourceUrl: string;
  /** Bytes this run received from the network (the rest came from a partial download). */
  received: number;
}

export type Progress = (done: number, total: number) => void;

interface Hashers {
  sha: Hash;
  tree: VerityTreeBuilder;
}

function newHashers(entry: ImageEntry): Hashers {
  const { salt, uuid } = entry.verity;
  return {
    sha: createHash('sha256'),
    tree: new VerityTreeBuilder({ salt: Buffer.from(salt, 'hex'), uuid }),
  };
}

/** Checks a 206 answer: it must continue exactly where we asked and describe the manifest's size. */
function checkContentRange(res: HttpResponse, have: number, size: number): void {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.header('content-range') ?? '');
  const length = res.header('content-length');
  const ok =
    m !== null &&
    Number(m[1]) === have &&
    Number(m[2]) === size - 1 &&
    Number(m[3]) === size &&
    (length === undefined || Number(length) === size - have);
  if (!ok) {
    throw new AgentError(
      'BAD_RANGE',
      `GET ${res.url}: asked for bytes ${have}-${size - 1}/${size}, got Content-Range "${res.header('content-range') ?? ''}"`,
    );
  }
}

function verify(
  entry: ImageEntry,
  h: Hashers,
  size: number,
): { hashFile: Buffer; rootHash: string } {
  const where = `image ${entry.path}`;
  if (size !== entry.size)
    throw new AgentError('SIZE_MISMATCH', `${where}: ${size} bytes, manifest says ${entry.size}`);
  const sha256 = h.sha.digest('hex');
  if (sha256 !== entry.sha256) {
    throw new AgentError(
      'HASH_MISMATCH',
      `${where}: SHA-256 ${sha256} does not match the manifest ${entry.sha256}`,
    );
  }
  const tree = h.tree.digest();
  if (tree.rootHash !== entry.verity.rootHash) {
    throw new AgentError(
      'VERITY_MISMATCH',
      `${where}: dm-verity root hash ${tree.rootHash} does not match the manifest ${entry.verity.rootHash}`,
    );
  }
  return { hashFile: tree.hashFile, rootHash: tree.rootHash };
}

/** Writes are gathered to about this size and issued while the next bytes arrive. */
const WRITE_BATCH = 1 << 20;

/**
 * Hashes every chunk as it arrives and writes them in batches, one write in flight at a time:
 * a write per network chunk (16-64 KiB) spent more time in thread-pool round trips than in
 * hashing. Returns the end position: every byte counted there is on disk when it returns.
 */
async function receive(
  res: HttpResponse,
  handle: FileHandle,
  h: Hashers,
  start: number,
  entry: ImageEntry,
  progress?: Progress,
): Promise<number> {
  let pos = start;
  let written = start;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  const flush = async (): Promise<void> => {
    await inFlight;
    if (batchBytes === 0) return;
    const at = written;
    written += batchBytes;
    inFlight = handle.writev(batch, at);
    batch = [];
    batchBytes = 0;
  };
  try {
    for await (const chunk of chunksOf(res)) {
      if (pos + chunk.length > entry.size) {
        res.body.destroy();
        throw new AgentError(
          'SIZE_MISMATCH',
          `GET ${res.url}: more than the ${entry.size} bytes the manifest gives`,
        );
      }
      h.sha.update(chunk);
      h.tree.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      pos += chunk.length;
      if (batchBytes >= WRITE_BATCH) await flush();
      progress?.(pos, entry.size);
    }
  } finally {
    // What arrived before a cut is kept on disk, so a resume starts after it.
    await flush();
    await inFlight;
  }
  return pos;
}

async function attempt(
  http: HttpClient,
  url: string,
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
): Promise<VerifiedDownload> {
  const existing = await readPartial(partial, entry);
  if (!existing) await discardPartial(partial);
  const validator =
    existing && existing.meta.url === url ? ifRangeValidator(existing.meta) : undefined;
  const resumeFrom = validator && existing ? existing.have : 0;
  const h = newHashers(entry);
  if (resumeFrom === entry.size) {
    // Everything is already here (a crash after the last byte): verify from disk, no request.
    await replayPartial(partial, resumeFrom, (c) => (h.sha.update(c), h.tree.update(c)));
    return {
      ...(await verifyOrDiscard(entry, h, resumeFrom, partial)),
      sourceUrl: url,
      received: 0,
    };
  }
  const headers: Record<string, string> =
    resumeFrom > 0 && validator ? { range: `bytes=${resumeFrom}-`, 'if-range': validator } : {};
  const res = await http.get(url, headers);
  let start = 0;
  if (res.status === 206) {
    try {
      checkContentRange(res, resumeFrom, entry.size);
    } catch (err) {
      // A server that answers ranges wrongly gets one more chance from zero, without Range.
      res.body.destroy();
      await discardPartial(partial);
      throw markTransient(err as AgentError);
    }
    start = resumeFrom;
  } else if (res.status === 200) {
    const length = res.header('content-length');
    if (length !== undefined && Number(length) !== entry.size) {
      res.body.destroy();
      throw new AgentError(
        'SIZE_MISMATCH',
        `GET ${url}: server declares ${length} bytes, manifest says ${entry.size}`,
      );
    }
  } else {
    await res.body.dump().catch(() => undefined);
    await discardPartial(partial);
    throw markTransient(
      new AgentError(
        'HTTP_STATUS',
        `GET ${url}: HTTP ${res.status} to a range request; restarting`,
      ),
    );
  }
  await mkdir(dirname(partial), { recursive: true, mode: 0o700 });
  await writePartialMeta(partial, {
    url,
    etag: res.header('etag'),
    lastModified: res.header('last-modified'),
    size: entry.size,
    sha256: entry.sha256,
  });
  const handle = await open(partial, start > 0 ? 'r+' : 'w', 0o600);
  let end: number;
  try {
    if (start > 0) await replayPartial(partial, start, (c) => (h.sha.update(c), h.tree.update(c)));
    if (start === 0) await handle.truncate(0);
    end = await receive(res, handle, h, start, entry, progress);
    await handle.sync();
  } catch (err) {
    if (err instanceof AgentError && err.code === 'SIZE_MISMATCH') await discardPartial(partial);
    throw err;
  } finally {
    await handle.close();
  }
  if (end < entry.size) {
    throw markTransient(
      new AgentError('NETWORK', `GET ${url}: body ended after ${end} of ${entry.size} bytes`),
    );
  }
  return {
    ...(await verifyOrDiscard(entry, h, end, partial)),
    sourceUrl: url,
    received: end - start,
  };
}

async function verifyOrDiscard(
  entry: ImageEntry,
  h: Hashers,
  size: number,
  partial: string,
): Promise<{ hashFile: Buffer; rootHash: string }> {
  try {
    return verify(entry, h, size);
  } catch (err) {
    // Bad bytes are never resumed from.
    await discardPartial(partial);
    throw err;
  }
}

/** Tries each mirror URL in order, each with the configured retries; every byte is verified. */
export async function downloadVerified(
  http: HttpClient,
  urls: readonly string[],
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
): Promise<VerifiedDownload> {
  let lastError: unknown;
  for (const url of urls) {
    try {
      return await http.retry(() => attempt(http, url, entry, partial, progress));
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof AgentError
    ? lastError
    : new AgentError('NETWORK', `image ${entry.path}: ${(lastError as Error)?.message}`, {
        cause: lastError,
      });
}
