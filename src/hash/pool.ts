/**
 * The hashing threads: worker threads running kernel.ts's `runShare`, started on first use and
 * kept for the life of the process (a worker takes tens of milliseconds to start; an update may
 * hash several images). Idle workers are unref'd, so they never keep the process alive; a
 * worker with a job is ref'd, so the process cannot exit while a job waits for it.
 *
 * SYSEXT_AGENT_HASH_THREADS sets how many threads the agent keeps busy while it hashes, its
 * main thread included (default: the available CPUs, at most 8): that many minus one workers
 * are started. During a download the main thread receives and writes, and one worker keeps
 * pace with the network on two cores (a second measured no faster and cost 12 MiB of memory);
 * for `verity` the main thread hashes a share. 0 or 1: the main thread hashes alone.
 *
 * A thread runs one job at a time, and a job blocks its thread while it waits for bytes: jobs
 * must run one after the other (the agent stages one image at a time), or a job waiting for a
 * download would hold back another that has all its bytes.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runShare, type KernelJob, type ShareResult } from './kernel.ts';

const MAX_THREADS = 8;

/** The worker's program: receive a job, run the share, answer with the result or the error. */
function workerMain(share: typeof runShare): void {
  // Not require(): a bundler rewrites require() calls into names of its own, which the worker,
  // a separate script, does not have; and an eval'd worker is ESM under --input-type=module.
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  const { readSync } = process.getBuiltinModule('node:fs');
  const { hash, createHash } = process.getBuiltinModule('node:crypto');
  const modules = { readSync, hash, createHash };
  let scratch = Buffer.allocUnsafe(0);
  parentPort?.on('message', (msg: { id: number; job: KernelJob }) => {
    const need = 256 * 4096 + msg.job.salt.length;
    if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
    try {
      parentPort.postMessage({ id: msg.id, result: share(msg.job, modules, scratch) });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      parentPort.postMessage({ id: msg.id, error: e?.message ?? String(err), code: e?.code });
    }
  });
}

const SOURCE = `(${workerMain.toString()})(${runShare.toString()});`;

type Reply = { id: number; result?: ShareResult; error?: string; code?: string };
type Waiting = { resolve: (r: ShareResult) => void; reject: (e: Error) => void };

/** A worker thread and the jobs it has been given and not yet answered. */
class HashThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  #failure: Error | undefined;

  constructor(onGone: (t: HashThread) => void) {
    this.#worker = new Worker(SOURCE, { eval: true, stdout: false, stderr: false });
    this.#worker.on('message', (reply: Reply) => this.#answer(reply));
    const fail = (err: Error): void => {
      this.#failure ??= err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
      onGone(this);
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`hashing thread exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again, and a thread
    // started ahead of its job (startHashThreads) must not keep the process alive.
    this.#worker.unref();
  }

  run(id: number, job: KernelJob): Promise<ShareResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<ShareResult>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.ref();
      this.#worker.postMessage({ id, job });
    });
  }

  #answer(reply: Reply): void {
    const w = this.#waiting.get(reply.id);
    if (!w) return;
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#worker.unref();
    if (reply.result) w.resolve(reply.result);
    else w.reject(Object.assign(new Error(reply.error ?? 'hashing failed'), { code: reply.code }));
  }
}

/**
 * The threads of this process, shared by every copy of this module: the single-file agent
 * evaluates its entry and the rest of the agent as separate copies (scripts/bundle.ts), and the
 * entry starts the threads of a hashing command before the rest is even parsed
 * (startHashThreads), so that they are ready when the hashing begins. Every copy comes from the
 * same file, so the threads' code is the same.
 */
const SHARED = Symbol.for('sysext-agent.hash-threads');
const shared = ((globalThis as Record<symbol, unknown>)[SHARED] ??= {
  threads: [],
  nextId: 1,
}) as { threads: HashThread[]; nextId: number };
const threads = shared.threads;

/** Starts worker threads until `count` are running (they are unref'd while idle). */
export function startHashThreads(count: number): void {
  while (threads.length < count) {
    threads.push(
      new HashThread((gone) => {
        const i = threads.indexOf(gone);
        if (i >= 0) threads.splice(i, 1);
      }),
    );
  }
}

/** Threads to hash with: SYSEXT_AGENT_HASH_THREADS when it is a number 0-8, else the CPUs. */
export function hashThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SYSEXT_AGENT_HASH_THREADS?.trim() ?? '';
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (n <= MAX_THREADS) return n;
  return Math.min(availableParallelism(), MAX_THREADS);
}

/** Runs `job` on `count` worker threads (started as needed); one promise per thread. */
export function runOnThreads(job: KernelJob, count: number): Promise<ShareResult>[] {
  startHashThreads(count);
  const id = shared.nextId++;
  return threads.slice(0, count).map((t) => t.run(id, job));
}
