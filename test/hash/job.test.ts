/**
 * The hashing engine (src/hash/): what FileHashJob computes on any number of threads equals the
 * references on the calling thread (createHash over the whole file; VerityTreeBuilder for the
 * dm-verity tree), for every salt size veritysetup accepts and at the edges of the 256-block
 * chunks the threads claim. While a writer is still appending, the threads read only what is
 * published: past the mark the file holds garbage until it is overwritten, so a read ahead of
 * the mark would change a digest. abort(), an early finish() and a file cut short under the
 * threads end cleanly (never a hang, never a wrong digest).
 */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentError } from '../../src/errors.ts';
import { CHUNK_BLOCKS } from '../../src/hash/kernel.ts';
import { FileHashJob, type HashJobOptions } from '../../src/hash/job.ts';
import { hashThreads } from '../../src/hash/pool.ts';
import { treeFromLevel0 } from '../../src/verity/levels.ts';
import { VerityTreeBuilder } from '../../src/verity/tree.ts';

const BLOCK = 4096;

let dir = '';
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hash-job-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A new file in the temp dir holding `bytes`, open read-write. */
function fileWith(bytes: Buffer): { path: string; fd: number } {
  const path = join(dir, `f${++files}`);
  writeFileSync(path, bytes);
  return { path, fd: openSync(path, 'r+') };
}

/** The references: SHA-256 of every byte, level 0 and the tree of the whole 4096-byte blocks. */
function reference(bytes: Buffer, salt: Buffer) {
  const dataBlocks = Math.floor(bytes.length / BLOCK);
  const level0 = Buffer.alloc(Math.ceil(dataBlocks / 128) * BLOCK);
  for (let b = 0; b < dataBlocks; b++) {
    createHash('sha256')
      .update(salt)
      .update(bytes.subarray(b * BLOCK, (b + 1) * BLOCK))
      .digest()
      .copy(level0, b * 32);
  }
  const uuid = randomUUID();
  let tree;
  if (dataBlocks > 0) {
    const builder = new VerityTreeBuilder({ salt, uuid });
    builder.update(bytes.subarray(0, dataBlocks * BLOCK));
    tree = builder.digest();
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    level0,
    dataBlocks,
    uuid,
    tree,
  };
}

/** Checks what a job returned against the references for `bytes`. */
function expectDigests(
  got: { sha256: string | null; level0: Buffer; dataBlocks: number },
  bytes: Buffer,
  salt: Buffer,
  context: string,
  sha = true,
): void {
  const want = reference(bytes, salt);
  expect(got.sha256, context).toBe(sha ? want.sha256 : null);
  expect(got.dataBlocks, context).toBe(want.dataBlocks);
  expect(got.level0.length, context).toBe(want.level0.length);
  expect(got.level0.equals(want.level0), `${context}: level 0`).toBe(true);
  if (want.tree) {
    const ours = treeFromLevel0(got.level0, got.dataBlocks, salt, want.uuid);
    expect(ours.rootHash, context).toBe(want.tree.rootHash);
    expect(ours.hashFile.equals(want.tree.hashFile), `${context}: hash file`).toBe(true);
  }
}

/** Hashes `bytes` written in one go, published at once. */
async function hashWhole(bytes: Buffer, opts: HashJobOptions) {
  const { fd } = fileWith(bytes);
  try {
    const job = new FileHashJob(fd, bytes.length, 'the test file', opts);
    job.publish(bytes.length);
    return await job.finish();
  } finally {
    closeSync(fd);
  }
}

const SALTS = [0, 1, 32, 256];
/** Bytes: 1 block, the chunk edges (CHUNK_BLOCKS = 256), a few random, and a ragged tail. */
function sizes(): number[] {
  expect(CHUNK_BLOCKS).toBe(256);
  return [
    BLOCK,
    255 * BLOCK,
    256 * BLOCK,
    257 * BLOCK,
    2 * 256 * BLOCK + 1,
    ...Array.from({ length: 3 }, () => randomInt(1, 900) * BLOCK),
    randomInt(2, 900) * BLOCK + randomInt(1, BLOCK),
    1000,
  ];
}

describe('FileHashJob equals the single-thread references', () => {
  for (const threads of [0, 1, 2, 3]) {
    for (const mainShare of threads === 0 ? [false] : [false, true]) {
      for (const saltSize of SALTS) {
        it(`threads ${threads}${mainShare ? ' (calling thread shares)' : ''}, salt ${saltSize} B`, async () => {
          for (const size of sizes()) {
            const bytes = randomBytes(size);
            const salt = randomBytes(saltSize);
            const got = await hashWhole(bytes, { salt, sha: true, threads, mainShare });
            expectDigests(got, bytes, salt, `${size} bytes`);
          }
        });
      }
    }
  }

  it('without the SHA-256 asked for: sha256 is null, the leaves are the same', async () => {
    for (const threads of [0, 2]) {
      const bytes = randomBytes(300 * BLOCK);
      const salt = randomBytes(32);
      const got = await hashWhole(bytes, { salt, sha: false, threads });
      expectDigests(got, bytes, salt, `threads ${threads}`, false);
    }
  });

  it('without `threads`: a file under 8 MiB hashes on the calling thread, one over on the pool', async () => {
    for (const size of [5 * BLOCK, 8 * 1024 * 1024 + 3 * BLOCK]) {
      const bytes = randomBytes(size);
      const salt = randomBytes(32);
      const got = await hashWhole(bytes, { salt, sha: true });
      expectDigests(got, bytes, salt, `${size} bytes`);
    }
  });
});

describe('progressive publishing: the threads never read past the published mark', () => {
  for (const threads of [2, 3, 4]) {
    for (const mainShare of [false, true]) {
      it(`threads ${threads}${mainShare ? ' (calling thread shares)' : ''}`, async () => {
        // Without the SHA-256 too: its thread reads the file in order, and leaves after it.
        for (const [saltSize, sha] of [
          [0, true],
          [32, false],
          [256, true],
          [1, false],
        ] as const) {
          const size = randomInt(300, 1200) * BLOCK + randomInt(0, BLOCK);
          const bytes = randomBytes(size);
          const salt = randomBytes(saltSize);
          // Garbage first, the real bytes written over it piece by piece.
          const { fd } = fileWith(randomBytes(size));
          try {
            const job = new FileHashJob(fd, size, 'the growing file', {
              salt,
              sha,
              threads,
              mainShare,
            });
            let writes = 0;
            for (let pos = 0; pos < size; writes++) {
              // Ragged pieces, from a few bytes to over a chunk: most publish a mark inside a block.
              const length = Math.min(
                size - pos,
                randomInt(1, 3 * CHUNK_BLOCKS * BLOCK) >> randomInt(0, 12),
              );
              for (let done = 0; done < length;)
                done += writeSync(fd, bytes, pos + done, length - done, pos + done);
              pos += length;
              job.publish(pos);
              // Let the threads catch up with the mark and wait at it, now and then.
              if (writes % 4 === 0) await sleep(randomInt(0, 3));
            }
            const got = await job.finish();
            const context = `${size} bytes in ${writes} writes, salt ${saltSize}, sha ${sha}`;
            expectDigests(got, bytes, salt, context, sha);
          } finally {
            closeSync(fd);
          }
        }
      });
    }
  }

  it('a resume: the bytes already on disk published first, then the rest as it lands', async () => {
    const size = 700 * BLOCK + 17;
    const bytes = randomBytes(size);
    const kept = 333 * BLOCK + 5;
    const garbage = randomBytes(size);
    bytes.copy(garbage, 0, 0, kept);
    const { fd } = fileWith(garbage);
    try {
      const salt = randomBytes(32);
      const job = new FileHashJob(fd, size, 'the resumed file', { salt, sha: true, threads: 2 });
      job.publish(kept);
      await sleep(20);
      for (let pos = kept; pos < size;) {
        const length = Math.min(size - pos, 100_000);
        writeSync(fd, bytes, pos, length, pos);
        pos += length;
        job.publish(pos);
        await sleep(1);
      }
      expectDigests(await job.finish(), bytes, salt, 'resumed');
    } finally {
      closeSync(fd);
    }
  });
});

describe('stopping and failing', () => {
  for (const threads of [2, 3, 4]) {
    it(`abort() while ${threads - 1} worker(s) wait for bytes returns, and the fd can be closed`, async () => {
      const size = 2000 * BLOCK;
      const { fd } = fileWith(randomBytes(size));
      const job = new FileHashJob(fd, size, 'the test file', {
        salt: randomBytes(32),
        sha: true,
        threads,
      });
      job.publish(300 * BLOCK + 1);
      // Give the threads time to hash what is there and block on the mark.
      await sleep(100);
      // Bounded by the test timeout: a thread that never saw the abort would hang here.
      await expect(job.abort()).resolves.toBeUndefined();
      expect(() => closeSync(fd)).not.toThrow();
      // The pool is free again: the next job on the same threads completes.
      const bytes = randomBytes(600 * BLOCK);
      const salt = randomBytes(1);
      expectDigests(
        await hashWhole(bytes, { salt, sha: true, threads }),
        bytes,
        salt,
        'after abort',
      );
    });
  }

  it('abort() before anything was published, and on a job already finished, never throws', async () => {
    const bytes = randomBytes(400 * BLOCK);
    const { fd } = fileWith(bytes);
    try {
      const idle = new FileHashJob(fd, bytes.length, 'f', {
        salt: Buffer.alloc(0),
        sha: true,
        threads: 2,
      });
      await expect(idle.abort()).resolves.toBeUndefined();
      const done = new FileHashJob(fd, bytes.length, 'f', {
        salt: Buffer.alloc(0),
        sha: true,
        threads: 2,
      });
      done.publish(bytes.length);
      expectDigests(await done.finish(), bytes, Buffer.alloc(0), 'finished');
      await expect(done.abort()).resolves.toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });

  for (const threads of [0, 2]) {
    it(`finish() with fewer bytes published than the size is refused (threads ${threads})`, async () => {
      const size = 300 * BLOCK;
      const { fd } = fileWith(randomBytes(size));
      const job = new FileHashJob(fd, size, 'the test file', {
        salt: randomBytes(32),
        sha: true,
        threads,
      });
      try {
        job.publish(size - 1);
        await expect(job.finish()).rejects.toThrow(/finish\(\) with \d+ of \d+ bytes/);
      } finally {
        await job.abort();
        closeSync(fd);
      }
    });
  }

  it('a file shorter than published: finish() rejects with IO, on the calling thread', async () => {
    const size = 300 * BLOCK;
    const { fd } = fileWith(randomBytes(size));
    try {
      const job = new FileHashJob(fd, size, 'the cut file', {
        salt: randomBytes(32),
        sha: true,
        threads: 0,
      });
      job.publish(size);
      // The calling thread reads only in finish(): the cut is certainly below the mark by then.
      ftruncateSync(fd, size / 2);
      const err: unknown = await job.finish().catch((e: unknown) => e);
      expect(isAgentError(err) && err.code).toBe('IO');
      expect((err as Error).message).toMatch(/cannot hash the cut file: the file ended at byte/);
    } finally {
      closeSync(fd);
    }
  });

  for (const [threads, mainShare] of [
    [1, false],
    [2, false],
    [3, true],
  ] as const) {
    it(`a file shorter than published: finish() rejects with IO (threads ${threads}${mainShare ? ', calling thread shares' : ''})`, async () => {
      const size = 1500 * BLOCK;
      const { fd } = fileWith(randomBytes(size));
      try {
        const job = new FileHashJob(fd, size, 'the cut file', {
          salt: randomBytes(32),
          sha: true,
          threads,
          mainShare,
        });
        // The threads are waiting for the mark: cut the file first, so no thread read it whole.
        ftruncateSync(fd, 700 * BLOCK + 3);
        job.publish(size);
        const err: unknown = await job.finish().catch((e: unknown) => e);
        expect(isAgentError(err) && err.code).toBe('IO');
        expect((err as Error).message).toMatch(/cannot hash the cut file: .*ended at byte/);
      } finally {
        closeSync(fd);
      }
      // No thread is left stuck on that job.
      const bytes = randomBytes(600 * BLOCK);
      const salt = randomBytes(32);
      expectDigests(await hashWhole(bytes, { salt, sha: true, threads }), bytes, salt, 'after');
    });
  }
});

describe('hashThreads(): SYSEXT_AGENT_HASH_THREADS', () => {
  const cpus = Math.min(availableParallelism(), 8);

  it('takes a whole number from 0 to 8', () => {
    for (const n of [0, 1, 2, 3, 8])
      expect(hashThreads({ SYSEXT_AGENT_HASH_THREADS: String(n) })).toBe(n);
    expect(hashThreads({ SYSEXT_AGENT_HASH_THREADS: ' 2 ' })).toBe(2);
  });

  it('falls back to the CPUs (at most 8) when absent, empty or not a number in range', () => {
    expect(hashThreads({})).toBe(cpus);
    for (const raw of ['', ' ', '9', '64', '-1', '1.5', 'two', '2threads', 'NaN', 'Infinity'])
      expect(hashThreads({ SYSEXT_AGENT_HASH_THREADS: raw }), JSON.stringify(raw)).toBe(cpus);
  });
});
