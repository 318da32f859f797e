/**
 * `update` of a fresh --root from a real nginx on 127.0.0.1 vs a durable download of the same
 * image (`curl -s -o FILE URL && sync FILE`: the agent fsyncs what it stages, so the reference
 * does too); then a poll that finds nothing new (the manifest answered 304) vs `node -e 0`.
 */
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { details, list, mib, msec, sec, timeRow } from './report.ts';
import { median, pairs, timed } from './run.ts';
import type { Bench, Sample } from './run.ts';

/** At least this many polls are timed: each is about 0.1 s, and the machine's noise is not. */
const POLL_RUNS = 21;
/** The agent's switch for the poll answered from its record (src/poll/answer.ts). */
const FAST_POLL_OFF = 'SYSEXT_AGENT_FAST_POLL=0';

export interface Repo {
  /** The repository's URL, served by nginx. */
  url: string;
  /** The publisher's key pair, PREFIX.pub and PREFIX.key. */
  prefix: string;
}

/** An agent run against `root` that updates the extensions in `config`. */
export function agent(b: Bench, root: string, config: string, flags: readonly string[]): string[] {
  return [...flags, b.cli, '--root', root, '--config', config, '--log-level', 'warn', 'update'];
}

/** A fresh --root holding only the publisher's key. */
export async function freshRoot(repo: Repo, root: string): Promise<string> {
  const keysDir = join(root, 'etc/sysext-agent/keys');
  await mkdir(keysDir, { recursive: true });
  await copyFile(`${repo.prefix}.pub`, join(keysDir, 'publisher.pub'));
  return root;
}

export async function configFor(b: Bench, repo: Repo, name: string): Promise<string> {
  const config = join(b.work, `config-${name}.json`);
  const body = { repositories: [repo.url], extensions: { [name]: {} } };
  await writeFile(config, JSON.stringify(body));
  return config;
}

/** Checks the update staged `name`: anything else is a failed measurement. */
export function staged(s: Sample, name: string): Sample {
  if (!new RegExp(`^${name}: staged`, 'm').test(s.stdout)) {
    throw new Error(`update did not stage ${name}:\n${s.stdout}${s.stderr}`);
  }
  return s;
}

export async function benchUpdate(
  b: Bench,
  repo: Repo,
  name: string,
  version: string,
  imageSize: number,
): Promise<void> {
  const imageUrl = new URL(`${name}/${name}_${version}.raw`, repo.url).href;
  const config = await configFor(b, repo, name);
  const rss = { update: [] as number[], curl: [] as number[], poll: [] as number[], node: [] };
  const roots = new Map<number, string>();
  // RSS of the measured runs, not of the warm-ups (i = -1).
  const keep = (i: number, list: number[], s: Sample): number => {
    if (s.rssKiB !== null && i >= 0) list.push(s.rssKiB);
    return s.ms;
  };

  process.stderr.write('update vs curl -o + sync (1 warm-up each)');
  const update = await pairs(b.runs, async (i, which) => {
    process.stderr.write('.');
    if (which === 'a') {
      const root = await freshRoot(repo, join(b.work, `root-${i}`));
      roots.set(i, root);
      return keep(
        i,
        rss.update,
        staged(await timed(b.work, b.node, agent(b, root, config, [])), name),
      );
    }
    const out = join(b.work, `curl-${i}.raw`);
    const sh = 'curl -s -o "$1" "$2" && sync "$1"';
    const s = await timed(b.work, 'sh', ['-c', sh, 'sh', out, imageUrl]);
    const got = (await stat(out)).size;
    await rm(out);
    if (got !== imageSize) throw new Error(`curl fetched ${got} bytes, expected ${imageSize}`);
    return keep(i, rss.curl, s);
  });

  const poll = async (
    root: string,
    flags: readonly string[],
    env: Record<string, string> = {},
  ): Promise<Sample> => {
    const stateFile = join(root, 'var/lib/sysext-agent/state.json');
    const before = (await stat(stateFile, { bigint: true })).mtimeNs;
    const s = await timed(b.work, b.node, agent(b, root, config, flags), env);
    if (!new RegExp(`^${name}: up-to-date`, 'm').test(s.stdout)) {
      throw new Error(`the poll found something to do:\n${s.stdout}${s.stderr}`);
    }
    // A 200 with the same manifest would write the state again; only the 304 path does not.
    if ((await stat(stateFile, { bigint: true })).mtimeNs !== before) {
      throw new Error('the poll rewrote state.json: the manifest was not answered 304');
    }
    return s;
  };
  /** The record the last quiet run left (src/poll/): a poll it answered leaves it as it was. */
  const record = async (root: string): Promise<string> => {
    const st = await stat(join(root, 'var/lib/sysext-agent/poll.json'), { bigint: true });
    return `${st.ino}:${st.mtimeNs}`;
  };

  // A timer's poll after a quiet one is answered from the record that run left; the first poll
  // after an update (no record yet) is a whole run. Both are measured, on one installed root,
  // with more runs than the others: a poll is short and its median moves with the machine.
  const pollRuns = Math.max(b.runs, POLL_RUNS);
  const pollRoot = roots.get(-1)!;
  process.stderr.write(`\nwhole-run poll (${FAST_POLL_OFF}) vs node -e 0`);
  const whole = await pairs(pollRuns, async (_, which) => {
    process.stderr.write('.');
    if (which === 'b') return (await timed(b.work, b.node, ['-e', '0'])).ms;
    return (await poll(pollRoot, [], { SYSEXT_AGENT_FAST_POLL: '0' })).ms;
  });
  // A quiet whole run as a timer makes it, which leaves the record the next polls answer from.
  await poll(pollRoot, []);
  const stamp = await record(pollRoot);
  process.stderr.write(`\npoll (304) vs node -e 0 (${pollRuns} runs, 1 warm-up each)`);
  const polls = await pairs(pollRuns, async (i, which) => {
    process.stderr.write('.');
    if (which === 'b') return keep(i, rss.node, await timed(b.work, b.node, ['-e', '0']));
    return keep(i, rss.poll, await poll(pollRoot, []));
  });
  if ((await record(pollRoot)) !== stamp)
    throw new Error('the polls were not answered from the record');
  process.stderr.write('\n');
  // The warm-up's root stays for a profile of the poll; the others go now, to free the disk.
  for (const [i, root] of roots) if (i >= 0) await rm(root, { recursive: true, force: true });

  const profiled = join(b.work, 'root-profile');
  timeRow(
    'update vs durable download',
    'curl -o + sync',
    update.a,
    update.b,
    1.25,
    'ours/ref <= 1.25',
    sec,
    async (flags) => {
      const root = await freshRoot(repo, profiled);
      const s = staged(await timed(b.work, b.node, agent(b, root, config, flags)), name);
      await rm(root, { recursive: true, force: true });
      return s;
    },
  );
  timeRow('poll, nothing new (304)', 'node -e 0', polls.a, polls.b, 2, 'ours/ref <= 2', msec, (f) =>
    poll(pollRoot, f),
  );
  const ratio = median(whole.a) / median(whole.b);
  details.push(
    `whole-run poll (${FAST_POLL_OFF}, the first poll after an update): ` +
      `${msec(median(whole.a))} vs node -e 0 ${msec(median(whole.b))}, ${ratio.toFixed(2)}x`,
  );
  if (rss.update.length > 0) {
    details.push(
      `peak RSS (${imageSize / 1024 / 1024} MiB): update [${list(rss.update, mib)}]; ` +
        `curl -o + sync [${list(rss.curl, mib)}]; poll [${list(rss.poll, mib)}]; ` +
        `node -e 0 [${list(rss.node, mib)}]`,
    );
  }
}
