/**
 * `npm run bench`: measures the agent against the reference tools in one run and prints a table
 * of medians, ratios (ours / reference) and the PRODUCT.md section 9 "Speed" targets, then the
 * CPU profile of the measurement furthest from its target.
 *
 * 1. dm-verity tree: the `verity` CLI process and `verityOfFile` in this process, vs
 *    `veritysetup format` (root hashes and hash files must agree). scripts/bench/verity.ts
 * 2. `update` of a fresh --root from a real nginx vs a durable download of the same image,
 *    `curl -s -o FILE URL && sync FILE`; a poll that finds nothing new (the manifest answered
 *    304, state.json untouched) vs `node -e 0`: a timer's poll after a quiet one, answered from
 *    the record that run left (src/poll/), and beside it the whole-run poll
 *    (SYSEXT_AGENT_FAST_POLL=0). scripts/bench/update.ts
 * 3. Peak RSS of `update` (GNU time %M) for a 256 MiB and a 1 GiB image. scripts/bench/memory.ts
 * 4. That slowest measurement once more under `node --cpu-prof`: sampled time per thread (main
 *    and workers) by category, top functions by self time. scripts/bench/profile.ts
 *
 * The agent under test is bin/sysext-agent.js running dist/sysext-agent.mjs (the bundle the
 * agent's own extension ships) with Node's compile cache in the temp dir, as a host runs it,
 * run as `node FILE` by the Node running the bench. BENCH_CLI (a path from the project's root)
 * runs another build instead, to compare.
 * BENCH_SIZE_MIB (default 256) sets the timing image's size, BENCH_RUNS (default 3) the
 * repetitions, BENCH_PROFILE (a part of a row's name) the row to profile instead of the slowest;
 * ours and the reference alternate which goes first, after one untimed warm-up of
 * each. A missed target is reported, never an error: the exit code is non-zero only when a
 * measurement itself fails. Everything lives in one temp dir, removed at the end; nginx listens
 * on 127.0.0.1; an interrupt stops the running command and nginx by PID.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx } from '../test/helpers/nginx.ts';
import type { RunningNginx } from '../test/helpers/nginx.ts';
import { freeMiB, writeRandomImage } from './bench/image.ts';
import { benchMemory, LARGE, memoryUnavailable, SMALL } from './bench/memory.ts';
import { summarizeProfiles } from './bench/profile.ts';
import { machine, mib, printTable, sec, slowest } from './bench/report.ts';
import { envInt, rssHow, stopRunning, timed } from './bench/run.ts';
import type { Bench } from './bench/run.ts';
import { benchUpdate } from './bench/update.ts';
import type { Repo } from './bench/update.ts';
import { benchVerity } from './bench/verity.ts';

const project = fileURLToPath(new URL('..', import.meta.url));
const NAME = 'bench';
const VERSION = '1.0';
const SIZE_MIB = envInt('BENCH_SIZE_MIB', 256);
const RUNS = envInt('BENCH_RUNS', 3);

/** The agent as a timer runs it: the shipped bundle if `npm run build` made it. */
function agentCli(): { cli: string; note: string } {
  const chosen = process.env.BENCH_CLI;
  if (chosen) {
    const cli = resolve(project, chosen);
    if (!existsSync(cli)) throw new Error(`BENCH_CLI: no such file: ${cli}`);
    return { cli, note: `${relative(project, cli)} (BENCH_CLI)` };
  }
  // bin/sysext-agent.js is what `npx sysext-agent` runs: the bundle, with Node's compile cache
  // on (the image's wrapper does the same), in NODE_COMPILE_CACHE, which main() points at the
  // bench's temp dir as the units point it at CacheDirectory=.
  const bin = join(project, 'bin/sysext-agent.js');
  const bundle = join(project, 'dist/sysext-agent.mjs');
  if (!existsSync(bundle)) throw new Error('no dist/sysext-agent.mjs: run `npm run build`');
  const built = statSync(bundle).mtime.toISOString();
  return { cli: bin, note: `bin/sysext-agent.js -> dist/sysext-agent.mjs (built ${built})` };
}

/** MiB on disk the timing part needs at once: image, repo copy, roots, curl's file, profile. */
const TIMING_MIB = SIZE_MIB * (2 + (RUNS + 1) + 1 + 1) + 64;
/** And the memory part: both published, the 1 GiB source image and one 1 GiB root. */
const MEMORY_MIB = SMALL.mib + LARGE.mib + 2 * LARGE.mib + 64;

let stopNginx = async (): Promise<void> => undefined;
let work: string | undefined;
let interrupted: string | undefined;

async function cleanup(): Promise<void> {
  await stopRunning();
  await stopNginx();
  if (work) await rm(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = signal;
    void cleanup().finally(() => process.exit(130));
  });
}

/** The row furthest from its target, run once more under --cpu-prof: where its time goes. */
async function profileSlowest(b: Bench): Promise<void> {
  const pick = process.env.BENCH_PROFILE || undefined;
  const row = slowest(pick);
  if (!row?.rerun) {
    process.stdout.write(
      `\nprofile: no measured row ${pick ? `matches "${pick}"` : 'to profile'}\n`,
    );
    return;
  }
  const dir = join(b.work, 'cpu-profile');
  await mkdir(dir);
  process.stderr.write(`\nprofiling "${row.what}" (node --cpu-prof)\n`);
  const s = await row.rerun(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const lines = await summarizeProfiles(dir);
  const state = row.met === 'yes' ? 'meets' : 'misses';
  const which = pick ? `BENCH_PROFILE="${pick}"` : 'the row furthest from its target';
  process.stdout.write(
    `\nprofile of ${which}: "${row.what}" (${state} it, ` +
      `${row.score!.toFixed(2)}x its bound), run once more under node --cpu-prof ` +
      `(${sec(s.ms)} wall${s.rssKiB === null ? '' : `, peak RSS ${mib(s.rssKiB)}`}, ` +
      'profiler overhead included):\n' +
      `${lines.map((l) => (l ? `  ${l}\n` : '\n')).join('')}`,
  );
}

async function main(): Promise<number> {
  const started = performance.now();
  let cli: string;
  let note: string;
  try {
    ({ cli, note } = agentCli());
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 1;
  }
  work = await mkdtemp(join(tmpdir(), 'sysext-agent-bench-'));
  // Inherited by every command: the agent's entry turns the compile cache on there.
  process.env.NODE_COMPILE_CACHE ??= join(work, 'compile-cache');
  const cache =
    `enableCompileCache in ${relative(project, cli)}: ` +
    `${readFileSync(cli, 'utf8').includes('enableCompileCache') ? 'yes' : 'no'}; ` +
    `NODE_COMPILE_CACHE ${process.env.NODE_COMPILE_CACHE}`;
  process.stdout.write(
    `sysext-agent bench: ${SIZE_MIB} MiB random image, ${RUNS} runs each, medians\n` +
      `node ${process.version} (${process.execPath})\n` +
      `agent: node ${note}\n` +
      `compile cache: ${cache}\n` +
      `${machine()}\n` +
      `peak RSS: ${rssHow} around every command\n`,
  );
  const b: Bench = { project, work, node: process.execPath, cli, runs: RUNS };
  try {
    const free = await freeMiB(work);
    const gib = (m: number): string => `${(m / 1024).toFixed(1)} GiB`;
    const need = `${work}: ${gib(free)} free, the bench needs about ${gib(TIMING_MIB + MEMORY_MIB)}`;
    if (free < TIMING_MIB)
      throw new Error(`not enough space in ${need} (${gib(TIMING_MIB)} at least)`);
    const memory = free >= TIMING_MIB + MEMORY_MIB;
    process.stdout.write(`temp dir ${need}${memory ? '' : ': too little for 1 GiB'}\n`);

    for (const dir of ['images', 'repo', 'keys']) await mkdir(join(work, dir));
    const image = join(work, 'images', `${NAME}_${VERSION}.raw`);
    await writeRandomImage(project, work, image, NAME, VERSION, SIZE_MIB);
    await benchVerity(b, image);

    const repoDir = join(work, 'repo');
    const prefix = join(work, 'keys', 'publisher');
    const key = `${prefix}.key`;
    const publish = (path: string): Promise<unknown> =>
      timed(b.work, b.node, [cli, 'publish', '--repo', repoDir, '--key', key, path]);
    await timed(work, b.node, [cli, 'keygen', '--output', prefix]);
    await publish(image);
    if (memory) {
      for (const { name, mib: size } of [SMALL, LARGE]) {
        process.stderr.write(`writing and publishing the ${size} MiB image ${name}\n`);
        const path = join(work, 'images', `${name}_${VERSION}.raw`);
        await writeRandomImage(project, work, path, name, VERSION, size);
        await publish(path);
        await rm(path); // the repository holds a copy
      }
    }

    let nginx: RunningNginx | undefined = await startNginx(repoDir);
    stopNginx = async () => {
      const n = nginx;
      nginx = undefined;
      await n?.stop();
    };
    const repo: Repo = { url: nginx.url, prefix };
    await benchUpdate(b, repo, NAME, VERSION, SIZE_MIB * 1024 * 1024);
    if (memory) await benchMemory(b, repo);
    else memoryUnavailable(`too little space: ${need}`);

    printTable();
    await profileSlowest(b);
  } catch (err) {
    if (interrupted) return 130;
    process.stderr.write(`\nbench: measurement failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
  process.stdout.write(
    `\nwarm page cache; ours = node ${cli.slice(project.length)}\n` +
      `${machine()} (at end); bench took ${sec(performance.now() - started)}\n`,
  );
  return 0;
}

process.exitCode = await main();
