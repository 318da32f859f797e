/**
 * Downloads one image into partial/ and verifies it in the same streaming pass: size, SHA-256
 * and the dm-verity tree are computed on the hashing threads from the bytes as each write lands
 * (PRODUCT.md promise 6). An interrupted download resumes with Range + If-Range; the bytes
 * already on disk are hashed again from the file, never downloaded again. Nothing here touches
 * the store.
 */
import { dirname } from 'node:path';
import { AgentError } from '../errors.ts';
import type { FileHandle } from 'node:fs/promises';
import {
  CREATE_NOFOLLOW,
  openRegular,
  ownDir,
  READ_NOFOLLOW,
  RW_NOFOLLOW,
} from '../store/nofollow.ts';
import type { FileHashJob } from '../hash/job.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { hashImageFile, verifyImage } from './image-hash.ts';
import { receive, writeError, type Progress } from './receive.ts';
import type { HttpClient, HttpResponse } from './http.ts';
import { discardPartial, resumeDecision, writePartialMeta } from './partial.ts';
import { markTransient } from './retry.ts';
import { logMirrorFallback, type NetLog } from './source.ts';

export interface VerifiedDownload {
  /** The complete veritysetup-format hash file for the image, superblock included. */
  hashFile: Buffer;
  rootHash: string;
  sourceUrl: string;
  /** Bytes this run received from the repository (the rest came from a partial download). */
  received: number;
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

async function attempt(
  http: HttpClient,
  url: string,
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
  log?: NetLog,
): Promise<VerifiedDownload> {
  const decision = await resumeDecision(partial, entry, url);
  const { validator, from: resumeFrom } = decision;
  if (resumeFrom === 0) await discardPartial(partial);
  if (decision.restart)
    log?.[decision.planted ? 'warn' : 'info'](
      { path: entry.path, url, partial },
      `${entry.path}: downloading from byte 0: the partial download ${decision.restart}`,
    );
  if (resumeFrom === entry.size) {
    // Everything is already here (a crash after the last byte): verify from disk, no request.
    log?.info(
      { path: entry.path, bytes: resumeFrom },
      `${entry.path}: the partial download is complete; verifying it from disk`,
    );
    const handle = await openRegular(partial, READ_NOFOLLOW);
    try {
      return { ...(await verifyOnDisk(entry, handle, partial)), sourceUrl: url, received: 0 };
    } finally {
      await handle.close();
    }
  }
  const headers: Record<string, string> =
    resumeFrom > 0 && validator ? { range: `bytes=${resumeFrom}-`, 'if-range': validator } : {};
  if (resumeFrom > 0)
    log?.info(
      { path: entry.path, url, from: resumeFrom, size: entry.size },
      `${entry.path}: resuming at byte ${resumeFrom} of ${entry.size} (If-Range ${validator})`,
    );
  const res = await http.get(url, headers);
  let start = 0;
  if (res.status === 206) {
    try {
      checkContentRange(res, resumeFrom, entry.size);
    } catch (err) {
      // A server that answers ranges wrongly gets one more chance from zero, without Range.
      res.body.destroy();
      await discardPartial(partial);
      log?.warn(
        { path: entry.path, url: res.url },
        `${entry.path}: partial download discarded: the server answered the range request wrongly`,
      );
      throw markTransient(err as AgentError);
    }
    start = resumeFrom;
  } else if (res.status === 200) {
    if (resumeFrom > 0)
      log?.info(
        { path: entry.path, url: res.url },
        `${entry.path}: downloading from byte 0: the server sent the whole file (it changed since, or ignores Range)`,
      );
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
    log?.info(
      { path: entry.path, url: res.url, status: res.status },
      `${entry.path}: partial download discarded: HTTP ${res.status} to the range request`,
    );
    throw markTransient(
      new AgentError(
        'HTTP_STATUS',
        `GET ${url}: HTTP ${res.status} to a range request; restarting`,
        { httpStatus: res.status },
      ),
    );
  }
  await ownDir(dirname(partial), 0o700);
  await writePartialMeta(partial, {
    url,
    etag: res.header('etag'),
    lastModified: res.header('last-modified'),
    size: entry.size,
    sha256: entry.sha256,
  }).catch((err: unknown) => {
    res.body.destroy();
    throw writeError(err, entry);
  });
  // Never through a symlink or into a FIFO: the partial is renamed into the store as it is.
  const handle = await openRegular(partial, start > 0 ? RW_NOFOLLOW : CREATE_NOFOLLOW).catch(
    (err: unknown) => {
      res.body.destroy();
      throw err instanceof AgentError ? err : writeError(err, entry);
    },
  );
  // The hashing threads read through this descriptor: it is closed only after they stopped.
  const job = hashImageFile(entry, handle.fd);
  try {
    job.publish(start);
    const end = await receive(res, handle, (n) => job.publish(n), start, entry, progress);
    await handle.sync().catch((err: unknown) => {
      throw writeError(err, entry);
    });
    if (end < entry.size) {
      throw markTransient(
        new AgentError('NETWORK', `GET ${url}: body ended after ${end} of ${entry.size} bytes`),
      );
    }
    return {
      ...(await verifyOrDiscard(entry, job, end, partial)),
      sourceUrl: url,
      received: end - start,
    };
  } catch (err) {
    await job.abort();
    // A full disk keeps nothing: the space goes back, and the host is as it was.
    if (err instanceof AgentError && (err.code === 'SIZE_MISMATCH' || err.code === 'NO_SPACE'))
      await discardPartial(partial);
    throw err;
  } finally {
    await handle.close();
  }
}

/** Verifies a partial download that is complete on disk (a crash after its last byte). */
async function verifyOnDisk(
  entry: ImageEntry,
  handle: FileHandle,
  partial: string,
): Promise<{ hashFile: Buffer; rootHash: string }> {
  const job = hashImageFile(entry, handle.fd);
  job.publish(entry.size);
  try {
    return await verifyOrDiscard(entry, job, entry.size, partial);
  } catch (err) {
    await job.abort();
    throw err;
  }
}

async function verifyOrDiscard(
  entry: ImageEntry,
  job: FileHashJob,
  size: number,
  partial: string,
): Promise<{ hashFile: Buffer; rootHash: string }> {
  try {
    return await verifyImage(entry, job, size);
  } catch (err) {
    // Bad bytes are never resumed from.
    await discardPartial(partial);
    throw err;
  }
}

const LOCAL_CODES = new Set(['NO_SPACE', 'FOREIGN_ENTRY', 'PERMISSION', 'IO']);

function isErrno(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** Tries each mirror URL in order, each with the configured retries; every byte is verified. */
export async function downloadVerified(
  http: HttpClient,
  urls: readonly string[],
  entry: ImageEntry,
  partial: string,
  progress?: Progress,
  log?: NetLog,
): Promise<VerifiedDownload> {
  let lastError: unknown;
  for (const [i, url] of urls.entries()) {
    try {
      return await http.retry(() => attempt(http, url, entry, partial, progress, log));
    } catch (err) {
      // A problem of this host (a full disk, a planted file) is the same from every mirror.
      if (err instanceof AgentError && LOCAL_CODES.has(err.code)) throw err;
      // The HTTP client codes its own errors: an errno error here is this host's file system.
      if (!(err instanceof AgentError) && isErrno(err)) throw writeError(err, entry);
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
}
