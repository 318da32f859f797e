/** The body of an image response: hashed as it arrives, written to the partial file in batches. */
import type { FileHandle } from 'node:fs/promises';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { chunksOf, type HttpResponse } from './http.ts';
import type { Hashers } from './image-hash.ts';

export type Progress = (done: number, total: number) => void;

/** Writes are gathered to about this size and issued while the next bytes arrive. */
const WRITE_BATCH = 1 << 20;

/**
 * Hashes every chunk as it arrives and writes them in batches, one write in flight at a time:
 * a write per network chunk (16-64 KiB) spent more time in thread-pool round trips than in
 * hashing. Returns the end position: every byte counted there is on disk when it returns.
 */
export async function receive(
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
  // A failed write is kept here, not left as a rejected promise while the next bytes arrive
  // (Node ends the process on an unhandled rejection); the next flush throws it.
  let failure: AgentError | undefined;
  const flush = async (): Promise<void> => {
    await inFlight;
    if (failure) throw failure;
    if (batchBytes === 0) return;
    const at = written;
    written += batchBytes;
    inFlight = handle.writev(batch, at).catch((err: unknown) => {
      failure ??= writeError(err, entry);
    });
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
  if (failure) throw failure;
  return pos;
}

/** A full disk is NO_SPACE (not a network error worth a retry); anything else writing is IO. */
export function writeError(err: unknown, entry: ImageEntry): AgentError {
  const errno = (err as NodeJS.ErrnoException)?.code;
  const reason = (err as Error)?.message ?? String(err);
  return errno === 'ENOSPC' || errno === 'EDQUOT'
    ? new AgentError(
        'NO_SPACE',
        `no space left for the download of ${entry.path} (${errno}): free space on the file system of /var/lib/sysext-agent and run again`,
        { cause: err },
      )
    : new AgentError('IO', `cannot write the download of ${entry.path}: ${reason}`, {
        cause: err,
      });
}
