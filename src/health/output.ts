/**
 * Keeps the last bytes a health check prints, for the report, without the bytes passing through
 * the agent: the check writes straight into the stdin of `tail -c N`, and only tail's answer
 * (at most N bytes) is read. A check printing hundreds of MB would otherwise stream through Node
 * as 64 KiB buffers, and V8 reclaims such external memory only every ~64 MB, which measured
 * +58 MiB of peak RSS for 400 MB of output. Without `tail` on PATH the output is read in
 * process into a small ring instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { within } from '../util/within.ts';

export interface OutputSink {
  /** Given to the check as stdout and stderr. */
  readonly stdio: Writable | 'pipe';
  /** Called right after the check was spawned. */
  attach(check: ChildProcess): void;
  /** The kept output, waiting at most `graceMs` for it once every writer is gone. */
  text(graceMs: number): Promise<string>;
  close(): void;
}

/** The last `bytes` of what was pushed: memory stays flat however much arrives. */
class Ring {
  #buf = Buffer.alloc(0);
  readonly bytes: number;
  constructor(bytes: number) {
    this.bytes = bytes;
  }
  push(chunk: Buffer): void {
    const joined = chunk.length >= this.bytes ? chunk : Buffer.concat([this.#buf, chunk]);
    // A copy, so the kept bytes do not pin a whole read buffer.
    this.#buf = Buffer.from(joined.subarray(Math.max(0, joined.length - this.bytes)));
  }
  text(): string {
    return this.#buf.toString('utf8');
  }
}

function closed(stream: Readable): Promise<void> {
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

function inProcess(bytes: number): OutputSink {
  const ring = new Ring(bytes);
  let done: Promise<unknown> = Promise.resolve();
  return {
    stdio: 'pipe',
    attach(check) {
      const streams = [check.stdout, check.stderr].filter((s): s is Readable => s !== null);
      for (const s of streams) s.on('data', (c: Buffer) => ring.push(c));
      done = Promise.all(streams.map(closed));
    },
    async text(graceMs) {
      await within(done, graceMs);
      return ring.text();
    },
    close() {},
  };
}

async function viaTail(bytes: number): Promise<OutputSink | null> {
  const tail = spawn('tail', ['-c', String(bytes)], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    await once(tail, 'spawn');
  } catch {
    return null;
  }
  const ring = new Ring(bytes);
  tail.stdout?.on('data', (c: Buffer) => ring.push(c));
  const done = tail.stdout ? closed(tail.stdout) : Promise.resolve();
  const input = tail.stdin as Writable;
  return {
    stdio: input,
    // The check holds its own copies of the pipe now; ours must go, or tail never sees EOF.
    attach: () => input.destroy(),
    async text(graceMs) {
      await within(done, graceMs);
      return ring.text();
    },
    close() {
      input.destroy();
      tail.kill('SIGKILL');
      tail.stdout?.destroy();
    },
  };
}

export async function outputSink(bytes: number): Promise<OutputSink> {
  return (await viaTail(bytes)) ?? inProcess(bytes);
}
