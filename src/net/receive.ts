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
