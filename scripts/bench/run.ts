/**
 * Running and timing one process for `npm run bench`: wall time from spawn to exit, peak RSS by
 * GNU time, the child in its own process group so that an interrupted bench stops it by PID.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';

export interface Sample {
  ms: number;
  /** Peak RSS in KiB (GNU time %M), null without GNU time. */
  rssKiB: number | null;
  stdout: string;
  stderr: string;
}

/** Why peak RSS cannot be measured, or null when GNU time can do it. */
function gnuTimeMissing(): string | null {
  const r = spawnSync(GNU_TIME, ['-f', '%M', 'true'], { encoding: 'utf8' });
  if (r.error) return `${GNU_TIME} is not installed (GNU time; the bench installs nothing)`;
  if (r.status !== 0 || !/^\d+\s*$/.test(r.stderr)) {
    return `${GNU_TIME} is not GNU time (no -f %M); the bench installs nothing`;
  }
  return null;
}

export const rssUnavailable = gnuTimeMissing();
export const rssHow = rssUnavailable ? `n/a: ${rssUnavailable}` : `${GNU_TIME} -f %M`;

let sampleNo = 0;
/** The command being measured, stopped by its PID if the bench is interrupted. */
let running: ChildProcess | undefined;

/**
 * Runs `cmd args` and waits for it; a non-zero exit is an error. With GNU time every command
 * (ours and the reference alike) runs under `time -f %M -o FILE`, so the wrapper's small cost is
 * on both sides of each ratio; its %M is the largest RSS of the command and the children it
 * waited for (curl under `sh -c`).
 */
export async function timed(
  work: string,
  cmd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Sample> {
  const rssFile = join(work, `rss-${sampleNo++}.txt`);
  const [file, argv] = rssUnavailable
    ? [cmd, args]
    : [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const started = performance.now();
  // Its own process group, so that an interrupted bench can stop GNU time and its child.
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, ...env },
  });
  running = child;
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  let ended = 0;
  child.once('exit', () => (ended = performance.now()));
  const code = await new Promise<number | string>((ok, fail) => {
    child.once('error', fail);
    child.once('close', (c, signal) => ok(c ?? signal ?? 'unknown'));
  }).finally(() => (running = undefined));
  const stdout = Buffer.concat(out).toString();
  const stderr = Buffer.concat(err).toString();
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${stdout}${stderr}`.trimEnd());
  }
  let rssKiB: number | null = null;
  if (!rssUnavailable) {
    const lines = (await readFile(rssFile, 'utf8')).trim().split('\n');
    rssKiB = Number(lines.at(-1));
    await rm(rssFile, { force: true });
  }
  return { ms: ended - started, rssKiB, stdout, stderr };
}

/** Stops the command being measured (its whole process group) and waits for it to end. */
export async function stopRunning(): Promise<void> {
  const child = running;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid, 'SIGTERM');
    await new Promise((ok) => child.once('close', ok));
  }
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Runs `a` and `b` `runs` times, alternating which goes first, after one untimed warm-up of each
 * unless told not to (`i` = -1: the page cache, and Node's compile cache when the product enables
 * it, are then warm as for a timer run).
 */
export async function pairs(
  runs: number,
  run: (i: number, which: 'a' | 'b') => Promise<number>,
  warmUp = true,
): Promise<{ a: number[]; b: number[] }> {
  if (warmUp) {
    await run(-1, 'a');
    await run(-1, 'b');
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const which of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      (which === 'a' ? a : b).push(await run(i, which));
    }
  }
  return { a, b };
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer: ${raw}`);
  return n;
}

/** What every measurement needs: the temp dir, the Node binary, the agent CLI under test. */
export interface Bench {
  project: string;
  work: string;
  node: string;
  /** The agent as a script for `node`: bin/sysext-agent.js, or BENCH_CLI. */
  cli: string;
  runs: number;
}
