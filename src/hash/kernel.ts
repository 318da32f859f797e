/**
 * What one hashing thread does with a file: its share of the dm-verity leaf digests and, for
 * one thread, the SHA-256 of the whole file. The bytes are read back from the file itself
 * (pread, a page-cache hit right after the write), so no buffer is passed between threads and
 * memory does not grow with the image: the writer publishes how many bytes are on disk, the
 * threads claim 1 MiB chunks of blocks below that mark and write each digest into level 0, a
 * SharedArrayBuffer.
 *
 * `runShare` is self-contained (no imports, no module-level names): pool.ts runs it on worker
 * threads from its source text (Function.prototype.toString), and the calling thread runs the
 * same function when there is no worker to wait for. Its modules come in as arguments.
 */
import type { readSync } from 'node:fs';
import type { createHash, hash } from 'node:crypto';

/** The job as every thread sees it (structured-cloned to workers; the buffers are shared). */
export interface KernelJob {
  fd: number;
  /** Bytes the file will have: the data blocks are its whole 4096-byte blocks. */
  size: number;
  salt: Uint8Array;
  /** The SHA-256 of the whole file is wanted too (one thread computes it). */
  sha: boolean;
  /** CONTROL_BYTES: Int32 [next chunk, abort, SHA claimed], then BigInt64 [bytes on disk]. */
  control: SharedArrayBuffer;
  /** The hash file in the making; level 0 (the data blocks' 32-byte digests, in order) is at
   * `level0Offset`. */
  tree: SharedArrayBuffer;
  level0Offset: number;
}

export interface KernelModules {
  readSync: typeof readSync;
  hash: typeof hash;
  createHash: typeof createHash;
}

export interface ShareResult {
  /** Leaf digests this thread wrote. */
  blocks: number;
  /** Hex SHA-256 of the file, from the thread that computed it. */
  sha256?: string;
  aborted?: boolean;
}

export const CONTROL_BYTES = 32;
export const CHUNK_BLOCKS = 256;

/**
 * One thread's share; returns when no chunk is left (or the job is aborted). `scratch` must hold
 * CHUNK_BLOCKS blocks plus the salt. Blocks are read to `scratch` after a salt-sized gap, and
 * the salt is copied in front of each block just before it is hashed (over the end of the block
 * before it, already hashed), so `salt || block` is one contiguous native call with no copy of
 * the block. Digests come back as latin1 ('binary') strings: a Buffer result costs an allocation per
 * block, which measured 20% slower for 4 KiB blocks.
 */
export function runShare(job: KernelJob, m: KernelModules, scratch: Buffer): ShareResult {
  const BLOCK = 4096;
  const DIGEST = 32;
  const CHUNK = 256;
  const flags = new Int32Array(job.control, 0, 4);
  const onDisk = new BigInt64Array(job.control, 16, 1);
  const out = Buffer.from(job.tree, job.level0Offset);
  const saltLength = job.salt.length;
  const result: ShareResult = { blocks: 0 };

  // Waits (this thread only; never the main thread, which publishes everything first) until
  // `need` bytes are on disk. False when the job was aborted.
  const waitFor = (need: number): boolean => {
    for (;;) {
      if (Atomics.load(flags, 1) !== 0) return false;
      const have = Atomics.load(onDisk, 0);
      if (have >= BigInt(need)) return true;
      Atomics.wait(onDisk, 0, have, 250);
    }
  };
  const readFully = (into: Buffer, at: number, length: number, position: number): void => {
    for (let done = 0; done < length;) {
      const n = m.readSync(job.fd, into, at + done, length - done, position + done);
      if (n === 0) throw new Error(`the file ended at byte ${position + done}`);
      done += n;
    }
  };

  const dataBlocks = Math.floor(job.size / BLOCK);
  // The leaves of chunk `c`, whose bytes are in `scratch` after the salt-sized gap.
  const hashLeaves = (c: number): void => {
    const first = c * CHUNK;
    const count = Math.min(CHUNK, dataBlocks - first);
    for (let b = 0; b < count; b++) {
      const at = b * BLOCK;
      if (saltLength > 0) scratch.set(job.salt, at);
      const digest = m.hash('sha256', scratch.subarray(at, at + saltLength + BLOCK), 'binary');
      out.write(digest, (first + b) * DIGEST, DIGEST, 'binary');
    }
    result.blocks += count;
  };

  // The SHA-256 thread reads the file in order, a chunk at a time, and hashes the leaves of
  // each chunk from the same read unless another thread claimed that chunk first: with one
  // worker, the tree keeps pace with the download instead of being left for after it.
  if (job.sha && Atomics.compareExchange(flags, 2, 0, 1) === 0) {
    const sha = m.createHash('sha256');
    for (let c = 0; c * CHUNK * BLOCK < job.size; c++) {
      const start = c * CHUNK * BLOCK;
      const length = Math.min(CHUNK * BLOCK, job.size - start);
      if (!waitFor(start + length)) return { ...result, aborted: true };
      readFully(scratch, saltLength, length, start);
      sha.update(scratch.subarray(saltLength, saltLength + length));
      // Chunks are claimed in order, and this thread tried each one before: the counter is at
      // `c` unless another thread took `c` (or later ones) already.
      if (c * CHUNK < dataBlocks && Atomics.compareExchange(flags, 0, c, c + 1) === c) {
        hashLeaves(c);
      }
    }
    result.sha256 = sha.digest('hex');
  }

  for (;;) {
    const c = Atomics.add(flags, 0, 1);
    if (c * CHUNK >= dataBlocks) return result;
    const count = Math.min(CHUNK, dataBlocks - c * CHUNK);
    if (!waitFor((c * CHUNK + count) * BLOCK)) return { ...result, aborted: true };
    readFully(scratch, saltLength, count * BLOCK, c * CHUNK * BLOCK);
    hashLeaves(c);
  }
}
