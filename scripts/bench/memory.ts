/**
 * Peak RSS of `update` (GNU time %M) for a 256 MiB and a 1 GiB image in the same run: under
 * 150 MiB at 1 GiB, and 1 GiB within 1.1x of 256 MiB (memory flat in the image size).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { details, list, mib, rows, sec } from './report.ts';
import type { Row } from './report.ts';
import { pairs, rssHow, rssUnavailable, timed } from './run.ts';
import type { Bench } from './run.ts';
import { agent, configFor, freshRoot, staged } from './update.ts';
import type { Repo } from './update.ts';

export const SMALL = { name: 'mem256', mib: 256 } as const;
export const LARGE = { name: 'mem1024', mib: 1024 } as const;
const BOUND_KIB = 150 * 1024;
const MAX_GROWTH = 1.1;
const TARGET = '< 150 MiB at 1 GiB';
const RATIO_TARGET = '<= 1.1';

/** The three rows, n/a with the reason when they cannot be measured. */
export function memoryUnavailable(why: string): void {
  const na = { ours: 'n/a', ref: '-', ratio: '-', met: 'n/a', score: null };
  rows.push({ what: 'update peak RSS, 256 MiB', target: TARGET, ...na });
  rows.push({ what: 'update peak RSS, 1 GiB', target: TARGET, ...na });
  rows.push({ what: 'update peak RSS, 1 GiB / 256 MiB', target: RATIO_TARGET, ...na });
  details.push(`peak RSS at 256 MiB and 1 GiB: n/a: ${why}`);
}

/** Both images are published in `repo` as SMALL.name and LARGE.name. */
export async function benchMemory(b: Bench, repo: Repo): Promise<void> {
  if (rssUnavailable) return memoryUnavailable(rssUnavailable);
  const images = [SMALL, LARGE];
  const configs = await Promise.all(images.map((img) => configFor(b, repo, img.name)));
  const rss: number[][] = [[], []];
  const ms: number[][] = [[], []];
  const update = async (k: 0 | 1, tag: string, flags: readonly string[]) => {
    const root = await freshRoot(repo, join(b.work, `root-${images[k]!.name}-${tag}`));
    const s = staged(
      await timed(b.work, b.node, agent(b, root, configs[k]!, flags)),
      images[k]!.name,
    );
    await rm(root, { recursive: true, force: true });
    return s;
  };

  process.stderr.write('update peak RSS: 256 MiB and 1 GiB images');
  await pairs(
    b.runs,
    async (i, which) => {
      process.stderr.write('.');
      const k = which === 'a' ? 0 : 1;
      const s = await update(k, String(i), []);
      rss[k]!.push(s.rssKiB!);
      ms[k]!.push(s.ms);
      return s.ms;
    },
    false,
  );
  process.stderr.write('\n');

  // The bound is for the worst run: the largest peak of each size.
  const [small, large] = [Math.max(...rss[0]!), Math.max(...rss[1]!)];
  const growth = large / small;
  const rerun: Row['rerun'] = (flags) => update(1, 'profile', flags);
  const max = `max of ${b.runs}`;
  rows.push({
    what: 'update peak RSS, 256 MiB',
    ours: `${mib(small)} (${max})`,
    ref: '-',
    ratio: '-',
    target: TARGET,
    met: small < BOUND_KIB ? 'yes' : 'NO',
    score: small / BOUND_KIB,
    rerun,
  });
  rows.push({
    what: 'update peak RSS, 1 GiB',
    ours: `${mib(large)} (${max})`,
    ref: '-',
    ratio: '-',
    target: TARGET,
    met: large < BOUND_KIB ? 'yes' : 'NO',
    score: large / BOUND_KIB,
    rerun,
  });
  rows.push({
    what: 'update peak RSS, 1 GiB / 256 MiB',
    ours: growth.toFixed(2),
    ref: '-',
    ratio: growth.toFixed(2),
    target: RATIO_TARGET,
    met: growth <= MAX_GROWTH ? 'yes' : 'NO',
    score: growth / MAX_GROWTH,
    rerun,
  });
  const mibps = (m: number, t: readonly number[]): string =>
    t.map((x) => `${sec(x)} (${((m * 1000) / x).toFixed(0)} MiB/s)`).join(', ');
  details.push(
    `peak RSS (${rssHow}): update 256 MiB [${list(rss[0]!, mib)}]; 1 GiB [${list(rss[1]!, mib)}]`,
    `update times: 256 MiB [${mibps(SMALL.mib, ms[0]!)}]; 1 GiB [${mibps(LARGE.mib, ms[1]!)}]`,
  );
}
