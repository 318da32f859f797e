/**
 * Hashing one file on every core while it is being written: level 0 of its dm-verity tree and,
 * when asked, its SHA-256 (PRODUCT.md promise 1 checks both; section 9 wants them at the speed
 * of the download). The writer calls `publish(bytes)` after each write lands; the threads
 * (pool.ts) read back what is published and hash it; `finish()` waits for them. Small files are
 * hashed on the calling thread in `finish()`: starting a worker costs more than they do.
 *
 * The file descriptor must stay open until `finish()` or `abort()` has returned: the threads
 * read through it.
 */
import { readSync } from 'node:fs';
import { createHash, hash } from 'node:crypto';
import { AgentError } from '../errors.ts';
import { level0Size, treeLayout } from '../verity/levels.ts';
import {
  CHUNK_BLOCKS,
  CONTROL_BYTES,
  runShare,
  type KernelJob,
  type ShareResult,
} from './kernel.ts';
import { hashThreads, runOnThreads } from './pool.ts';

/** Below this size the calling thread hashes alone (about the cost of starting one worker). */
export const PARALLEL_MIN_BYTES = 8 * 1024 * 1024;

export interface FileDigests {
  /** Hex SHA-256 of the file; null when it was not asked for. */
  sha256: string | null;
  /**
   * The dm-verity hash file in the making (levels.ts treeLayout): level 0 filled in, the rest
   * zero; levels.ts `completeTree` finishes it in place.
   */
  tree: Buffer;
  /** Level 0 inside `tree`. */
  level0: Buffer;
  dataBlocks: number;
}

export interface HashJobOptions {
  salt: Buffer;
  /** Compute the SHA-256 of the whole file too. */
  sha: boolean;
  /** The calling thread hashes a share as well (it has nothing else to do meanwhile). */
  mainShare?: boolean;
  /**
   * Threads in all, the calling thread included (default: hashThreads(), or 0 below
   * PARALLEL_MIN_BYTES): `threads - 1` workers are started; with none, the calling thread
   * hashes everything in finish().
   */
  threads?: number;
}

type Settled = { ok: ShareResult } | { failed: Error };

export class FileHashJob {
  readonly #job: KernelJob;
  readonly #what: string;
  readonly #flags: Int32Array;
  readonly #onDisk: BigInt64Array;
  readonly #threads: Promise<Settled>[];
  readonly #mainShare: boolean;
  #published = 0;

  /** `what` names the file in error messages. */
  constructor(fd: number, size: number, what: string, opts: HashJobOptions) {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    // Level 0 is written where it sits in the hash file, which is then completed in place.
    const layout = treeLayout(Math.floor(size / 4096));
    this.#job = {
      fd,
      size,
      salt: new Uint8Array(opts.salt),
      sha: opts.sha,
      control,
      tree: new SharedArrayBuffer(layout.bufferSize),
      level0Offset: layout.level0Offset,
    };
    this.#what = what;
    this.#flags = new Int32Array(control, 0, 4);
    this.#onDisk = new BigInt64Array(control, 16, 1);
    const threads = opts.threads ?? (size < PARALLEL_MIN_BYTES ? 0 : hashThreads());
    // One thread is the caller's: it hashes a share (mainShare) or receives the download.
    const workers = threads - 1;
    this.#threads = workers > 0 ? this.#start(workers) : [];
    // Without a worker the calling thread hashes everything in finish().
    this.#mainShare = opts.mainShare === true || this.#threads.length === 0;
  }

  /** `bytes` from the start of the file are written and may be read. */
  publish(bytes: number): void {
    this.#published = bytes;
    Atomics.store(this.#onDisk, 0, BigInt(bytes));
    Atomics.notify(this.#onDisk, 0);
  }

  /** Waits for every thread; all `size` bytes must have been published. */
  async finish(): Promise<FileDigests> {
    if (this.#published < this.#job.size) {
      throw new Error(`FileHashJob.finish() with ${this.#published} of ${this.#job.size} bytes`);
    }
    const results: Settled[] = [];
    if (this.#mainShare) results.push(this.#runHere());
    results.push(...(await Promise.all(this.#threads)));
    const failed = results.find((r): r is { failed: Error } => 'failed' in r);
    if (failed) throw this.#error(failed.failed);
    const shares = results.map((r) => (r as { ok: ShareResult }).ok);
    const dataBlocks = Math.floor(this.#job.size / 4096);
    const hashed = shares.reduce((n, s) => n + s.blocks, 0);
    if (hashed !== dataBlocks) throw new Error(`hashed ${hashed} of ${dataBlocks} blocks`);
    const tree = Buffer.from(this.#job.tree);
    const at = this.#job.level0Offset;
    return {
      sha256: shares.find((s) => s.sha256 !== undefined)?.sha256 ?? null,
      tree,
      level0: tree.subarray(at, at + level0Size(dataBlocks)),
      dataBlocks,
    };
  }

  /** Stops the threads and waits until none reads the file any more. Never throws. */
  async abort(): Promise<void> {
    this.#stop();
    await Promise.all(this.#threads);
  }

  /** Raises the abort flag and wakes every thread waiting for bytes. */
  #stop(): void {
    Atomics.store(this.#flags, 1, 1);
    Atomics.notify(this.#onDisk, 0);
  }

  #start(workers: number): Promise<Settled>[] {
    return runOnThreads(this.#job, workers).map((p) =>
      p.then(
        (ok) => ({ ok }),
        (failed: Error) => {
          // A thread that failed cannot finish its chunks: stop the others too.
          this.#stop();
          return { failed };
        },
      ),
    );
  }

  #runHere(): Settled {
    const scratch = Buffer.allocUnsafe(CHUNK_BLOCKS * 4096 + this.#job.salt.length);
    try {
      return { ok: runShare(this.#job, { readSync, hash, createHash }, scratch) };
    } catch (err) {
      this.#stop();
      return { failed: err as Error };
    }
  }

  #error(err: Error): AgentError {
    const errno = (err as NodeJS.ErrnoException).code;
    const detail = errno ? `${err.message} (${errno})` : err.message;
    return new AgentError('IO', `cannot hash ${this.#what}: ${detail}`, { cause: err });
  }
}
