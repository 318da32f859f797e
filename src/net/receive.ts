/**
 * The body of an image response, written to the partial file in batches; each landed write is
 * reported, and the hashing threads read it back from there (image-hash.ts).
 */
import type { FileHandle } from 'node:fs/promises';
import { AgentError } from '../errors.ts';
import type { ImageEntry } from '../manifest/schema.ts';
import { youngGcEvery } from '../util/young-gc.ts';
import { chunksOf, type HttpResponse } from './http.ts';

export type Progress = (done: number, total: number) => void;

/** Writes are gathered to about this size and issued while the next bytes arrive. */
const WRITE_BATCH = 1 << 20;
/**
 * Each time this many more bytes are written, fdatasync starts (one at a time, in the thread
 * pool): the disk writes back while the rest arrives, and the fsync that makes the download
 * durable has little left to do. Measured on 256 MiB (docs/performance.md): download then sync
 * 1.8-2.0 s, with a sync every 16 MiB 1.3-1.6 s.
 */
const SYNC_EVERY = 16 << 20;
/** A scavenge per this many bytes received frees the socket buffers (util/young-gc.ts). */
const GC_EVERY = 4 << 20;

/**
 * Writes the chunks in batches, one write in flight at a time (a write per network chunk, 16-64
 * KiB, spent more time in thread-pool round trips than in hashing), and calls `written(end)`
 * once the bytes up to `end` are in the file. Returns the end position: every byte counted there
 * is on disk when it returns.
 */
export async function receive(
  res: HttpResponse,
  handle: FileHandle,
  written: (end: number) => void,
  start: number,
  entry: ImageEntry,
  progress?: Progress,
): Promise<number> {
  let pos = start;
  let queued = start;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  // A failed write is kept here, not left as a rejected promise while the next bytes arrive
  // (Node ends the process on an unhandled rejection); the next flush throws it.
  let failure: AgentError | undefined;
  const scavenge = youngGcEvery(GC_EVERY);
  let synced = start;
  let syncing: Promise<unknown> | undefined;
  const flush = async (): Promise<void> => {
    await inFlight;
    if (failure) throw failure;
    if (batchBytes === 0) return;
    const at = queued;
    queued += batchBytes;
    const end = queued;
    inFlight = writeAllv(handle, batch, at).then(
      () => {
        written(end);
        if (!syncing && end - synced >= SYNC_EVERY) {
          synced = end;
          syncing = handle.datasync().then(
            () => (syncing = undefined),
            (err: unknown) => {
              syncing = undefined;
              failure ??= writeError(err, entry);
            },
          );
        }
      },
      (err: unknown) => {
        failure ??= writeError(err, entry);
      },
    );
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
      batch.push(chunk);
      batchBytes += chunk.length;
      pos += chunk.length;
      scavenge(chunk.length);
      if (batchBytes >= WRITE_BATCH) await flush();
      progress?.(pos, entry.size);
    }
  } finally {
    // What arrived before a cut is kept on disk, so a resume starts after it.
    await flush();
    await inFlight;
    await syncing;
  }
  if (failure) throw failure;
  return pos;
}

/** writev until every byte is written: the hashing threads read up to the reported end. */
async function writeAllv(handle: FileHandle, chunks: Buffer[], at: number): Promise<void> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  let { bytesWritten } = await handle.writev(chunks, at);
  if (bytesWritten === total) return;
  const rest = Buffer.concat(chunks).subarray(bytesWritten);
  for (let done = 0; done < rest.length; done += bytesWritten) {
    ({ bytesWritten } = await handle.write(
      rest,
      done,
      rest.length - done,
      at + total - rest.length + done,
    ));
  }
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
