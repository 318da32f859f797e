/**
 * The bench's table: one row per PRODUCT.md section 9 target, the samples behind each median,
 * and which row is furthest from its target (the one whose profile is printed).
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { median } from './run.ts';
import type { Sample } from './run.ts';

export interface Row {
  what: string;
  ours: string;
  ref: string;
  ratio: string;
  target: string;
  met: string;
  /** How far from its target: the measured value over its bound, above 1 a miss; null: n/a. */
  score: number | null;
  /** Runs this measurement once more, with these Node flags before the script (--cpu-prof). */
  rerun?: (nodeFlags: readonly string[]) => Promise<Sample>;
}

export const rows: Row[] = [];
export const details: string[] = [];

export const sec = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
export const msec = (ms: number): string => `${ms.toFixed(1)} ms`;
export const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
export const list = (v: readonly number[], f: (n: number) => string): string => v.map(f).join(', ');

/** A timing row: ours / reference of the medians against `maxRatio`. */
export function timeRow(
  what: string,
  refName: string,
  ours: readonly number[],
  ref: readonly number[],
  maxRatio: number,
  target: string,
  fmt: (ms: number) => string,
  rerun: Row['rerun'],
): void {
  const ratio = median(ours) / median(ref);
  rows.push({
    what,
    ours: fmt(median(ours)),
    ref: `${refName} ${fmt(median(ref))}`,
    ratio: ratio.toFixed(2),
    target,
    met: ratio <= maxRatio ? 'yes' : 'NO',
    score: ratio / maxRatio,
    rerun,
  });
  details.push(`${what}: ours [${list(ours, fmt)}]; ${refName} [${list(ref, fmt)}]`);
}

/**
 * The measured row furthest from its target (highest score) that can be run again, or the first
 * whose name contains `pick` (BENCH_PROFILE) when given.
 */
export function slowest(pick?: string): Row | undefined {
  const candidates = rows.filter((r) => r.score !== null && r.rerun);
  if (pick) return candidates.find((r) => r.what.includes(pick));
  let worst: Row | undefined;
  for (const r of candidates) if (!worst || r.score! > worst.score!) worst = r;
  return worst;
}

export function machine(): string {
  let nproc: string;
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    nproc = `${availableParallelism()} (nproc not found; os.availableParallelism)`;
  }
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `nproc ${nproc}, load average ${load}`;
}

type Cells = Pick<Row, 'what' | 'ours' | 'ref' | 'ratio' | 'target' | 'met'>;

export function printTable(): void {
  const head: Cells = {
    what: 'measurement',
    ours: 'ours (median)',
    ref: 'reference (median)',
    ratio: 'ours/ref',
    target: 'target (PRODUCT.md 9)',
    met: 'met',
  };
  const keys = Object.keys(head) as (keyof Cells)[];
  const all: Cells[] = [head, ...rows];
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Cells): string =>
    keys
      .map((k, i) => r[k].padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`\n${line(head)}\n${width.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  process.stdout.write(`\nsamples:\n${details.map((d) => `  ${d}\n`).join('')}`);
}
