/**
 * `npm run bench`: measures the agent against the reference tools in one run and prints a table
 * of medians, ratios (ours / reference) and the PRODUCT.md section 8 "Speed" targets.
 *
 * 1. dm-verity tree: the `verity` CLI process and `verityOfFile` in this process, vs
 *    `veritysetup format` (root hashes and hash files must agree).
 * 2. `update` of a fresh --root from the real nginx vs `curl -s -o` of the same image, and the
 *    agent's peak RSS during that update (GNU time's %M).
 * 3. A poll that finds nothing new (the manifest answered 304) vs `node -e 0`.
 *
 * BENCH_SIZE_MIB (default 256) sets the random image's size, BENCH_RUNS (default 3) the
 * repetitions; ours and the reference alternate which goes first. A missed target is reported,
 * never an error: the exit code is non-zero only when a measurement itself fails. Everything
 * lives in one temp dir, removed at the end; nginx listens on 127.0.0.1 and is stopped by PID.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomFillSync, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verityOfFile } from '../src/verity/file.ts';
import { startNginx } from '../test/helpers/nginx.ts';
import type { RunningNginx } from '../test/helpers/nginx.ts';

const project = fileURLToPath(new URL('..', import.meta.url));
// The compiled agent, as `npx sysext-agent` and an installed host run it (npm run bench builds it).
const cli = join(project, 'dist/cli/main.js');
const node = process.execPath;
const GNU_TIME = '/usr/bin/time';
const MiB = 1024 * 1024;
const NAME = 'bench';
const VERSION = '1.0';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer: ${raw}`);
  return n;
}

const SIZE_MIB = envInt('BENCH_SIZE_MIB', 256);
const RUNS = envInt('BENCH_RUNS', 3);

// ---------------------------------------------------------------------------------------------
// Running and timing one process

interface Sample {
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

const rssUnavailable = gnuTimeMissing();

let sampleNo = 0;
/** The command being measured, stopped by its PID if the bench is interrupted. */
let running: ChildProcess | undefined;

/**
 * Wall time from spawn to exit, stdout/stderr collected; a non-zero exit is an error. With GNU
 * time every command (ours and the reference alike) runs under `time -f %M -o FILE`, so the
 * wrapper's small cost is on both sides of each ratio.
 */
async function timed(work: string, cmd: string, args: readonly string[]): Promise<Sample> {
  const rssFile = join(work, `rss-${sampleNo++}.txt`);
  const [file, argv] = rssUnavailable
    ? [cmd, args]
    : [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const started = performance.now();
  // Its own process group, so that an interrupted bench can stop GNU time and its child.
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs ours and the reference RUNS times, alternating which goes first. */
async function pairs(
  run: (i: number, which: 'ours' | 'ref') => Promise<number>,
): Promise<{ ours: number[]; ref: number[] }> {
  const ours: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const which of i % 2 === 0 ? (['ours', 'ref'] as const) : (['ref', 'ours'] as const)) {
      (which === 'ours' ? ours : ref).push(await run(i, which));
    }
  }
  return { ours, ref };
}

// ---------------------------------------------------------------------------------------------
// Setup

/**
 * `mib` MiB: a real squashfs image (publish reads its extension-release; built by
 * fixtures/make-images.sh) followed by random bytes, which unsquashfs never reads.
 */
async function writeRandomImage(path: string, mib: number): Promise<void> {
  const fsDir = await mkdtemp(join(tmpdir(), 'sysext-agent-bench-fs-'));
  let fs: Buffer;
  try {
    execFileSync('bash', [
      join(project, 'fixtures/make-images.sh'),
      '--out',
      fsDir,
      '--name',
      NAME,
      VERSION,
    ]);
    fs = await readFile(join(fsDir, `${NAME}_${VERSION}.raw`));
  } finally {
    await rm(fsDir, { recursive: true, force: true });
  }
  const buf = Buffer.allocUnsafe(MiB);
  const file = await open(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      randomFillSync(buf);
      if (i === 0) fs.copy(buf);
      await file.write(buf, 0, MiB, i * MiB);
    }
  } finally {
    await file.close();
  }
}

function machine(): string {
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

// ---------------------------------------------------------------------------------------------
// Measurements

interface Row {
  what: string;
  ours: string;
  ref: string;
  ratio: string;
  target: string;
  met: string;
}

const rows: Row[] = [];
const details: string[] = [];

const sec = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
const msec = (ms: number): string => `${ms.toFixed(1)} ms`;
const list = (v: readonly number[], f: (n: number) => string): string => v.map(f).join(', ');

function timeRow(
  what: string,
  refName: string,
  ours: readonly number[],
  ref: readonly number[],
  maxRatio: number,
  target: string,
  fmt: (ms: number) => string,
): void {
  const ratio = median(ours) / median(ref);
  rows.push({
    what,
    ours: fmt(median(ours)),
    ref: `${refName} ${fmt(median(ref))}`,
    ratio: ratio.toFixed(2),
    target,
    met: ratio <= maxRatio ? 'yes' : 'NO',
  });
  details.push(`${what}: ours [${list(ours, fmt)}]; ${refName} [${list(ref, fmt)}]`);
}

async function benchVerity(work: string, image: string): Promise<void> {
  const salt = randomBytes(32);
  const uuid = randomUUID();
  const saltHex = salt.toString('hex');
  const oursFile = join(work, 'ours.verity');
  const refFile = join(work, 'veritysetup.verity');
  const roots = new Set<string>();
  const inProcess: number[] = [];

  process.stderr.write('dm-verity: CLI and veritysetup format');
  const { ours, ref } = await pairs(async (_i, which) => {
    process.stderr.write('.');
    if (which === 'ours') {
      await rm(oursFile, { force: true });
      const s = await timed(work, node, [
        cli,
        'verity',
        image,
        '--salt',
        saltHex,
        '--uuid',
        uuid,
        '--hash-file',
        oursFile,
      ]);
      roots.add(s.stdout.trim());
      return s.ms;
    }
    await rm(refFile, { force: true });
    const s = await timed(work, 'veritysetup', [
      'format',
      `--salt=${saltHex}`,
      `--uuid=${uuid}`,
      image,
      refFile,
    ]);
    const m = /^Root hash:\s+([0-9a-f]+)\s*$/m.exec(s.stdout);
    if (!m?.[1]) throw new Error(`veritysetup format printed no root hash:\n${s.stdout}`);
    roots.add(m[1]);
    return s.ms;
  });
  process.stderr.write('\ndm-verity: verityOfFile in this process');
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write('.');
    const started = performance.now();
    const result = await verityOfFile(image, { salt, uuid });
    inProcess.push(performance.now() - started);
    roots.add(result.rootHash);
  }
  process.stderr.write('\n');

  if (roots.size !== 1) throw new Error(`root hashes disagree: ${[...roots].join(' ')}`);
  if (!(await readFile(oursFile)).equals(await readFile(refFile))) {
    throw new Error('hash files differ: `verity --hash-file` vs `veritysetup format`');
  }
  const target = 'ref/ours >= 1.25 (ours/ref <= 0.80)';
  timeRow('dm-verity tree: CLI process', 'veritysetup', ours, ref, 0.8, target, sec);
  timeRow('dm-verity tree: verityOfFile', 'veritysetup', inProcess, ref, 0.8, target, sec);
  details.push(`dm-verity: root hash ${[...roots][0]} (CLI, verityOfFile and veritysetup agree)`);
}

async function benchUpdate(work: string, image: string): Promise<void> {
  const keys = join(work, 'keys');
  const repo = join(work, 'repo');
  await mkdir(keys);
  await mkdir(repo);
  const prefix = join(keys, 'publisher');
  await timed(work, node, [cli, 'keygen', '--output', prefix]);
  await timed(work, node, [cli, 'publish', '--repo', repo, '--key', `${prefix}.key`, image]);

  let nginx: RunningNginx | undefined = await startNginx(repo);
  stopNginx = async () => {
    const n = nginx;
    nginx = undefined;
    await n?.stop();
  };
  try {
    const imageUrl = new URL(`${NAME}/${NAME}_${VERSION}.raw`, nginx.url).href;
    const config = join(work, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ repositories: [nginx.url], extensions: { [NAME]: {} } }),
    );
    const imageSize = (await stat(image)).size;
    const updateRss: number[] = [];
    const curlRss: number[] = [];
    const pollRss: number[] = [];
    const nodeRss: number[] = [];
    const roots: string[] = [];
    const agent = (root: string): string[] => [
      cli,
      '--root',
      root,
      '--config',
      config,
      '--log-level',
      'warn',
      'update',
    ];

    process.stderr.write('update vs curl');
    const update = await pairs(async (i, which) => {
      process.stderr.write('.');
      if (which === 'ours') {
        const root = join(work, `root-${i}`);
        const keysDir = join(root, 'etc/sysext-agent/keys');
        await mkdir(keysDir, { recursive: true });
        await copyFile(`${prefix}.pub`, join(keysDir, 'publisher.pub'));
        roots[i] = root;
        const s = await timed(work, node, agent(root));
        if (!new RegExp(`^${NAME}: staged`, 'm').test(s.stdout)) {
          throw new Error(`update did not stage ${NAME}:\n${s.stdout}${s.stderr}`);
        }
        if (s.rssKiB !== null) updateRss.push(s.rssKiB);
        return s.ms;
      }
      const out = join(work, `curl-${i}.raw`);
      const s = await timed(work, 'curl', ['-s', '-o', out, imageUrl]);
      const got = (await stat(out)).size;
      // Deleted at once: its dirty pages would otherwise be written back during the next run.
      await rm(out);
      if (got !== imageSize) throw new Error(`curl fetched ${got} bytes, expected ${imageSize}`);
      if (s.rssKiB !== null) curlRss.push(s.rssKiB);
      return s.ms;
    });

    process.stderr.write('\npoll (304) vs node -e 0');
    const poll = await pairs(async (i, which) => {
      process.stderr.write('.');
      if (which === 'ref') {
        const s = await timed(work, node, ['-e', '0']);
        if (s.rssKiB !== null) nodeRss.push(s.rssKiB);
        return s.ms;
      }
      const root = roots[i]!;
      const stateFile = join(root, 'var/lib/sysext-agent/state.json');
      const before = (await stat(stateFile, { bigint: true })).mtimeNs;
      const s = await timed(work, node, agent(root));
      if (!new RegExp(`^${NAME}: up-to-date`, 'm').test(s.stdout)) {
        throw new Error(`the poll found something to do:\n${s.stdout}${s.stderr}`);
      }
      // A 200 with the same manifest would write the state again; only the 304 path does not.
      if ((await stat(stateFile, { bigint: true })).mtimeNs !== before) {
        throw new Error('the poll rewrote state.json: the manifest was not answered 304');
      }
      if (s.rssKiB !== null) pollRss.push(s.rssKiB);
      return s.ms;
    });
    process.stderr.write('\n');
    for (const root of roots) await rm(root, { recursive: true, force: true });

    timeRow(
      'update vs download',
      'curl -o',
      update.ours,
      update.ref,
      1.25,
      'ours/ref <= 1.25',
      sec,
    );
    const mibOf = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
    if (rssUnavailable) {
      rows.push({
        what: 'update peak RSS',
        ours: 'n/a',
        ref: 'curl n/a',
        ratio: '-',
        target: '< 150 MiB at 1 GiB',
        met: 'n/a',
      });
      details.push(`peak RSS: n/a: ${rssUnavailable}`);
    } else {
      const peak = Math.max(...updateRss);
      rows.push({
        what: 'update peak RSS (max of runs)',
        ours: mibOf(peak),
        ref: `curl ${mibOf(Math.max(...curlRss))}`,
        ratio: '-',
        target: '< 150 MiB at 1 GiB',
        met: peak < 150 * 1024 ? 'yes' : 'NO',
      });
      details.push(
        `peak RSS: update [${list(updateRss, mibOf)}]; curl [${list(curlRss, mibOf)}]; ` +
          `poll [${list(pollRss, mibOf)}]; node -e 0 [${list(nodeRss, mibOf)}]`,
      );
      if (SIZE_MIB !== 1024) {
        details.push(
          `peak RSS: the target is stated for a 1 GiB image; this run used ${SIZE_MIB} MiB, ` +
            'and the same bound is applied (memory is meant to be flat in the image size)',
        );
      }
    }
    timeRow('poll, nothing new (304)', 'node -e 0', poll.ours, poll.ref, 2, 'ours/ref <= 2', msec);
  } finally {
    await stopNginx();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function printTable(): void {
  const head: Row = {
    what: 'measurement',
    ours: 'ours (median)',
    ref: 'reference (median)',
    ratio: 'ours/ref',
    target: 'target (PRODUCT.md 8)',
    met: 'met',
  };
  const keys = Object.keys(head) as (keyof Row)[];
  const all = [head, ...rows];
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row): string =>
    keys
      .map((k, i) => r[k].padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`\n${line(head)}\n${width.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  process.stdout.write(`\nsamples:\n${details.map((d) => `  ${d}\n`).join('')}`);
}

// ---------------------------------------------------------------------------------------------

let stopNginx = async (): Promise<void> => undefined;
let work: string | undefined;
let interrupted: string | undefined;

async function cleanup(): Promise<void> {
  const child = running;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid, 'SIGTERM');
    await new Promise((ok) => child.once('close', ok));
  }
  await stopNginx();
  if (work) await rm(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = signal;
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const started = performance.now();
  process.stdout.write(
    `sysext-agent bench: ${SIZE_MIB} MiB random image, ${RUNS} runs each, medians\n` +
      `node ${process.version} (${node})\n` +
      `${machine()}\n` +
      `peak RSS: ${rssUnavailable ? `n/a: ${rssUnavailable}` : `${GNU_TIME} -f %M around every command`}\n`,
  );
  work = await mkdtemp(join(tmpdir(), 'sysext-agent-bench-'));
  try {
    await mkdir(join(work, 'images'));
    const image = join(work, 'images', `${NAME}_${VERSION}.raw`);
    await writeRandomImage(image, SIZE_MIB);
    await benchVerity(work, image);
    await benchUpdate(work, image);
  } catch (err) {
    if (interrupted) return 130;
    process.stderr.write(`\nbench: measurement failed: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
  printTable();
  process.stdout.write(
    `\nwarm page cache; ours = node ${cli.slice(project.length)} unless noted\n` +
      `${machine()} (at end); bench took ${sec(performance.now() - started)}\n`,
  );
  return 0;
}

process.exitCode = await main();
