/**
 * Acceptance 3 (PRODUCT.md promise 2): SIGKILL the agent during real updates and rollbacks, at
 * every journal step (SYSEXT_AGENT_TEST_CRASH_AT) and after random delays, then run `recover`
 * and check the host each time: every activation entry belongs to one complete, verified
 * version (old or new), no temp files, state.json valid and agreeing with the symlink, no
 * journal left; and a following `update` still succeeds.
 *
 * Most iterations use `--root` without refresh (fast: no merge), two lanes in parallel, one with
 * verity sidecars. A smaller lane really merges inside a private mount namespace, where the
 * refresh, prove, health and revert steps exist. Every iteration starts from a template tree
 * made by real runs, so iterations are independent; the sequence of operations and random draws
 * comes from the printed seed (CRASH_SEED=N repeats it; where a kill lands still varies with
 * the machine's speed).
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { readState } from '../../src/store/state.ts';
import { CLI, cliCommand, runCli } from '../helpers/cli.ts';
import { repoPayload } from '../helpers/repo-manifest.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skipTools = missingFor('tools');
const skipMerge = skipTools ?? missingFor('merge');

const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Kills wanted in all; the merge lane contributes its fixed schedule when it runs. */
const KILLS_WANTED = 200;
/** Of those, kills that land between `begin` and the journal's removal (recovery finds a journal). */
const IN_TX_WANTED = 150;
/** A `--root` run: from start to exit the CLI takes about 0.5-1 s, so some runs finish first. */
const ROOT_MAX_DELAY_MS = 1500;

/** The merge lane: a stop at each step of install, failing update, rollback, upgrade; a few random. */
const MERGE_FORCED = 6 + 9 + 6 + 6;
const MERGE_RANDOM = 4;

let kills = 0;

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface VersionInfo {
  size: number;
  sha256: string;
  rootHash: string;
}

async function manifestVersions(repo: string): Promise<Map<string, VersionInfo>> {
  const payload = await repoPayload(repo);
  const map = new Map<string, VersionInfo>();
  for (const [v, entry] of Object.entries(payload.extensions.hello?.versions ?? {})) {
    const e = entry.images[0];
    if (e) map.set(v, { size: e.size, sha256: e.sha256, rootHash: e.verity.rootHash });
  }
  return map;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const ACTIVATION = ['hello.raw', 'hello.roothash', 'hello.verity'];

/**
 * The promise-2 invariants on one host's /var/lib; returns the active version (null: none).
 * `what` names the iteration in every failure message.
 */
async function checkHost(
  varLib: string,
  versions: ReadonlyMap<string, VersionInfo>,
  sidecars: boolean,
  what: string,
): Promise<{ active: string | null; quarantined: string[] }> {
  const extDir = join(varLib, 'extensions');
  const stateDir = join(varLib, 'sysext-agent');
  const store = join(stateDir, 'images/hello');
  const entries = await readdir(extDir).catch(() => [] as string[]);
  // Nothing but activation entries: no temp symlinks (.hello.raw.PID.X.tmp) or strays.
  expect(
    entries.filter((e) => !ACTIVATION.includes(e)),
    what,
  ).toEqual([]);
  for (const dir of [stateDir, store]) {
    const temps = (await readdir(dir).catch(() => [] as string[])).filter((e) =>
      /^\..*\.tmp$/.test(e),
    );
    expect(temps, `${what}: temp files in ${dir}`).toEqual([]);
  }
  expect(existsSync(join(stateDir, 'journal.json')), `${what}: journal left`).toBe(false);
  expect(existsSync(join(stateDir, 'lock')), `${what}: lock left`).toBe(false);
  // readState validates the schema; it throws on anything that is not a valid state.
  const state = await readState(join(stateDir, 'state.json'));
  const ext = state.extensions.hello;

  let active: string | null = null;
  const link = await readlink(join(extDir, 'hello.raw')).catch(() => null);
  if (link === null) {
    expect(entries, `${what}: sidecars without an image link`).toEqual([]);
  } else {
    const match = /^hello_(.+)\.raw$/.exec(basename(link));
    expect(match, `${what}: link target ${link}`).not.toBeNull();
    active = match?.[1] ?? '';
    const info = versions.get(active);
    expect(info, `${what}: ${active} is not in the manifest`).toBeDefined();
    const image = resolve(extDir, link);
    expect(image, what).toBe(join(store, `hello_${active}.raw`));
    const bytes = await readFile(image);
    expect(bytes.length, `${what}: size of ${active}`).toBe(info?.size);
    expect(sha256(bytes), `${what}: sha256 of ${active}`).toBe(info?.sha256);
    expect(existsSync(join(store, `hello_${active}.verity`)), what).toBe(true);
    expect(existsSync(join(store, `hello_${active}.roothash`)), what).toBe(true);
    if (sidecars) {
      const rootHashLink = await readlink(join(extDir, 'hello.roothash'));
      expect(resolve(extDir, rootHashLink), `${what}: roothash sidecar`).toBe(
        join(store, `hello_${active}.roothash`),
      );
      expect((await readFile(join(extDir, 'hello.roothash'), 'utf8')).trim(), what).toBe(
        info?.rootHash,
      );
      const verityLink = await readlink(join(extDir, 'hello.verity'));
      expect(resolve(extDir, verityLink), `${what}: verity sidecar`).toBe(
        join(store, `hello_${active}.verity`),
      );
      expect((await readFile(join(extDir, 'hello.verity'))).length, what).toBeGreaterThan(0);
    } else {
      expect([...entries].sort(), `${what}: sidecars while they are off`).toEqual(['hello.raw']);
    }
  }
  expect(ext?.current ?? null, `${what}: state current vs symlink`).toBe(active);
  // What a rollback would go back to is still in the store.
  if (ext?.previous)
    expect(existsSync(join(store, `hello_${ext.previous}.raw`)), `${what}: previous`).toBe(true);
  return { active, quarantined: (ext?.quarantined ?? []).map((q) => q.version) };
}

interface KillableRun {
  exitCode: number | undefined;
  killed: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command; SIGKILLs it after `killAfterMs` unless it has exited by then. */
async function runKillable(
  file: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; killAfterMs?: number },
): Promise<KillableRun> {
  const started = Date.now();
  const child = execa(file, args, { reject: false, stdin: 'ignore', env: opts.env ?? {} });
  const timer =
    opts.killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
  const result = await child;
  clearTimeout(timer);
  return {
    exitCode: result.exitCode,
    killed: result.signal === 'SIGKILL',
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    ms: Date.now() - started,
  };
}

/**
 * step: SIGKILL right after the journal records it; afterMs: after a delay from the start;
 * afterBeginMs: after a delay from `begin` (SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS), which
 * aims random instants inside the transaction.
 */
type Kill = { step: string } | { afterMs: number } | { afterBeginMs: number };

function killOptions(kill: Kill): { env?: Record<string, string>; killAfterMs?: number } {
  if ('step' in kill) return { env: { SYSEXT_AGENT_TEST_CRASH_AT: kill.step } };
  if ('afterBeginMs' in kill)
    return { env: { SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS: String(kill.afterBeginMs) } };
  return { killAfterMs: kill.afterMs };
}

function describeKill(kill: Kill): string {
  if ('step' in kill) return `at ${kill.step}`;
  if ('afterBeginMs' in kill) return `${kill.afterBeginMs} ms after begin`;
  return `after ${kill.afterMs} ms`;
}

const FORWARD_STEPS = ['begin', 'switch:hello', 'refresh', 'prove', 'health:hello'];
const BACK_STEPS = ['revert:hello', 'revert-refresh', 'revert-prove', 'record-failure'];

/** What recovery must leave for a forced stop: forward steps undone, commit and back steps finished. */
function expectedAfterStep(step: string, from: string | null, to: string | null): string | null {
  return step === 'commit' ? to : from;
}

describe.skipIf(skipTools)('crash consistency (SIGKILL at journal steps and at random)', () => {
  const summary = { root: 0, rootRuns: 0, merge: 0, mergeRuns: 0, journals: 0, temps: 0 };
  /** Counts what recovery found: an interrupted transaction, temp files of interrupted writes. */
  const noteRecovery = (stdout: string): boolean => {
    const report = JSON.parse(stdout) as { recovered: boolean; tempFilesRemoved: number };
    if (report.recovered) summary.journals++;
    summary.temps += report.tempFilesRemoved;
    return report.recovered;
  };

  beforeAll(() => {
    console.log(`crash test seed ${SEED} (repeat with CRASH_SEED=${SEED})`);
  });
  afterAll(() => {
    console.log(
      `crash test: ${kills} kills (--root: ${summary.root} kills in ${summary.rootRuns} runs; ` +
        `real merge: ${summary.merge} kills in ${summary.mergeRuns} runs); recovery found ` +
        `${summary.journals} interrupted transactions and ${summary.temps} temp files; seed ${SEED}`,
    );
  });

  describe.skipIf(skipMerge)('real merge in a private mount namespace', () => {
    let sb: Sandbox;
    let server: Awaited<ReturnType<typeof startServer>>;
    let versions: Map<string, VersionInfo>;
    let fullRunMs = 0;
    const templates = (name: string) => join(sb.dir, 'templates', name);

    type MergeOp = 'install' | 'upgrade' | 'failing' | 'rollback';
    /**
     * Templates (var-lib trees) made by real merged runs. 4.0 fails its health check, so the
     * healthy install and upgrade start from trees where a first try of 4.0 was quarantined.
     */
    const OPS: Record<
      MergeOp,
      { template: string; args: string; from: string | null; to: string; exit: number }
    > = {
      install: { template: 'n0q', args: 'update', from: null, to: '3.0', exit: 0 },
      upgrade: { template: 'n1q', args: 'update', from: '2.0', to: '3.0', exit: 0 },
      failing: { template: 'n2', args: 'update', from: '3.0', to: '4.0', exit: 3 },
      rollback: { template: 'n2', args: 'rollback', from: '3.0', to: '2.0', exit: 0 },
    };
    const SETUP = () =>
      `mount --make-rshared / && mount --bind /run /run && mount --bind '${sb.varLib}' /var/lib || exit 99`;
    const agentCmd = (args: string) =>
      `${cliCommand()} --config '${sb.configFile}' --json --log-level error ${args}`;

    /**
     * The agent replaces the shell (`exec`) so that the PID execa started is the agent's own:
     * unshare without --fork execs sh, and sh execs node. The first line is the namespace id.
     */
    async function runAgentInNamespace(
      args: string,
      opts: { env?: Record<string, string>; killAfterMs?: number },
    ): Promise<KillableRun> {
      const script = `${SETUP()}\nreadlink /proc/self/ns/mnt\nexec ${agentCmd(args)}`;
      const run = await runKillable(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-c', script],
        opts,
      );
      const ns = run.stdout.split('\n')[0] ?? '';
      if (ns.startsWith('mnt:')) await waitNamespaceGone(ns);
      return run;
    }

    /** An orphan (systemd-sysext, a health check) of a killed agent may still work in there. */
    async function waitNamespaceGone(ns: string): Promise<void> {
      const deadline = Date.now() + 60_000;
      for (;;) {
        let alive = false;
        for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
          if ((await readlink(`/proc/${pid}/ns/mnt`).catch(() => '')) === ns) {
            alive = true;
            break;
          }
        }
        if (!alive) return;
        if (Date.now() > deadline) throw new Error(`processes still running in ${ns}`);
        await sleep(50);
      }
    }

    /** `recover`, then merge what the entries point at (as systemd-sysext.service does at boot). */
    async function recoverAndMerge(): Promise<{ recover: number; refresh: number; hello: string }> {
      const report = join(sb.dir, 'recover.json');
      const script = `${SETUP()}
        ${agentCmd('recover')} >'${report}'; echo "recover=$?"
        systemd-sysext refresh >/dev/null 2>&1; echo "refresh=$?"
        if [ -x /usr/bin/hello ]; then /usr/bin/hello; else echo "hello none"; fi`;
      const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
        reject: false,
        stdin: 'ignore',
      });
      const lines = String(r.stdout).split('\n');
      const value = (key: string) =>
        Number(lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? NaN);
      return {
        recover: value('recover'),
        refresh: value('refresh'),
        hello: lines.find((l) => l.startsWith('hello ')) ?? `(no output) ${String(r.stderr)}`,
      };
    }

    async function useTemplate(name: string): Promise<void> {
      await rm(sb.varLib, { recursive: true, force: true });
      await cp(templates(name), sb.varLib, { recursive: true, verbatimSymlinks: true });
    }

    async function update(expectExit: number, template?: string): Promise<number> {
      const started = Date.now();
      const run = await runAgentInNamespace('update', {});
      expect(run.exitCode, run.stderr).toBe(expectExit);
      if (template)
        await cp(sb.varLib, templates(template), { recursive: true, verbatimSymlinks: true });
      return Date.now() - started;
    }

    beforeAll(async () => {
      sb = await makeSandbox();
      server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
      await sb.writeConfig({
        repositories: [server.url],
        extensions: {
          hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
        },
      });
      const good = await buildImages(sb.images, ['1.0', '2.0', '3.0']);
      const [bad] = await buildImages(join(sb.dir, 'bad'), ['4.0'], { healthFail: true });
      const publish = async (image: string | undefined) =>
        expect(
          (await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image as string])).exitCode,
        ).toBe(0);
      await mkdir(join(sb.dir, 'templates'));
      await cp(sb.varLib, templates('empty'), { recursive: true });
      await publish(good[0]);
      await update(0);
      await publish(good[1]);
      await update(0, 'n1');
      await publish(good[2]);
      fullRunMs = await update(0, 'n2');
      await publish(bad);
      await useTemplate('n1');
      await update(3, 'n1q');
      await useTemplate('empty');
      await update(3, 'n0q');
      versions = await manifestVersions(sb.repo);
    });
    afterAll(async () => {
      await server?.close();
      await sb?.cleanup();
    });

    async function iteration(index: number, op: MergeOp, kill: Kill): Promise<void> {
      const spec = OPS[op];
      const what = `seed ${SEED} merge #${index}: ${op} killed ${describeKill(kill)}`;
      await useTemplate(spec.template);
      const run = await runAgentInNamespace(spec.args, killOptions(kill));
      summary.mergeRuns++;
      if ('step' in kill) expect(run.killed, `${what}: step not reached\n${run.stderr}`).toBe(true);
      if (run.killed) {
        kills++;
        summary.merge++;
      } else {
        expect(run.exitCode, `${what}: not killed\n${run.stderr}`).toBe(spec.exit);
      }
      const after = await recoverAndMerge();
      expect(after.recover, `${what}: recover`).toBe(0);
      if (run.killed) noteRecovery(await readFile(join(sb.dir, 'recover.json'), 'utf8'));
      expect(after.refresh, `${what}: refresh after recover`).toBe(0);
      const { active, quarantined } = await checkHost(sb.varLib, versions, false, what);
      expect(after.hello, `${what}: merged version`).toBe(`hello ${active ?? 'none'}`);
      if ('step' in kill) {
        expect(active, what).toBe(expectedAfterStep(kill.step, spec.from, spec.to));
        // Undone forward steps quarantine nothing; finished ones quarantine what they left.
        if (op === 'failing')
          expect(quarantined.includes('4.0'), what).toBe(BACK_STEPS.includes(kill.step));
        if (op === 'rollback')
          expect(quarantined.includes('3.0'), what).toBe(kill.step === 'commit');
      } else if (op === 'failing') {
        expect(active, what).toBe(spec.from);
      } else {
        expect([spec.from, spec.to], what).toContain(active);
      }
    }

    it(
      'every kill is recovered and the merge shows the version the entries point at',
      { timeout: 240_000 },
      async () => {
        const rng = prng(SEED + 104729);
        let index = 0;
        const plan: [MergeOp, Kill][] = [];
        for (const op of ['install', 'failing', 'rollback'] as const) {
          const steps =
            op === 'failing' ? [...FORWARD_STEPS, ...BACK_STEPS] : [...FORWARD_STEPS, 'commit'];
          for (const step of steps) plan.push([op, { step }]);
        }
        const ops = Object.keys(OPS) as MergeOp[];
        for (let i = 0; i < MERGE_RANDOM; i++) {
          // Half spread over the whole run (start-up, download, refresh), half inside the
          // transaction (its refresh and health check take a few hundred ms).
          const op = ops[Math.floor(rng() * ops.length)] as MergeOp;
          const kill =
            i % 2 === 0
              ? { afterMs: 300 + Math.floor(rng() * fullRunMs) }
              : { afterBeginMs: Math.floor(rng() * 300) };
          plan.push([op, kill]);
        }
        // Last the healthy upgrade, ending with a stop that recovery undoes (back to 2.0), so
        // that the following update has real work and a healthy newest version to reach.
        for (const step of ['commit', ...FORWARD_STEPS]) plan.push(['upgrade', { step }]);
        expect(plan.length).toBe(MERGE_FORCED + MERGE_RANDOM);
        for (const [op, kill] of plan) await iteration(index++, op, kill);

        const final = await runAgentInNamespace('update', {});
        expect(final.exitCode, final.stderr).toBe(0);
        expect(
          JSON.parse(final.stdout.split('\n').slice(1).join('\n')).extensions.hello,
        ).toMatchObject({
          from: '2.0',
          to: '3.0',
          result: 'updated',
        });
        const after = await recoverAndMerge();
        expect(after.hello).toBe('hello 3.0');
        expect((await checkHost(sb.varLib, versions, false, 'final update')).active).toBe('3.0');
      },
    );
  });

  describe('--root mode, no refresh', () => {
    let sb: Sandbox;
    let server: Awaited<ReturnType<typeof startServer>>;
    let versions: Map<string, VersionInfo>;

    type RootOp = 'install' | 'upgrade1' | 'upgrade2' | 'rollback';
    const OPS: Record<
      RootOp,
      { template: string; args: string[]; from: string | null; to: string }
    > = {
      install: { template: 'empty', args: ['update'], from: null, to: '3.0' },
      upgrade1: { template: 'v1', args: ['update'], from: '1.0', to: '3.0' },
      upgrade2: { template: 'v2', args: ['update'], from: '2.0', to: '3.0' },
      rollback: { template: 'v2', args: ['rollback'], from: '2.0', to: '1.0' },
    };

    interface Lane {
      name: string;
      dir: string;
      root: string;
      sidecars: boolean;
    }
    const lanes: Lane[] = [];

    const agent = (lane: Lane, ...args: string[]) =>
      runCli(['--root', lane.root, '--json', '--log-level', 'error', ...args]);

    async function useTemplate(lane: Lane, template: string): Promise<void> {
      await rm(lane.root, { recursive: true, force: true });
      await cp(join(lane.dir, template), lane.root, { recursive: true, verbatimSymlinks: true });
    }

    async function saveTemplate(lane: Lane, template: string): Promise<void> {
      await cp(lane.root, join(lane.dir, template), { recursive: true, verbatimSymlinks: true });
    }

    async function publish(version: string): Promise<void> {
      const image = join(sb.images, `hello_${version}.raw`);
      expect((await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image])).exitCode).toBe(
        0,
      );
    }

    beforeAll(async () => {
      sb = await makeSandbox();
      await buildImages(sb.images, ['1.0', '2.0', '3.0']);
      server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
      for (const sidecars of [false, true]) {
        const name = sidecars ? 'sidecars' : 'plain';
        const dir = join(sb.dir, name);
        const lane = { name, dir, root: join(dir, 'root'), sidecars };
        const etc = join(dir, 'empty/etc/sysext-agent');
        await mkdir(join(etc, 'keys'), { recursive: true });
        await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
        await writeFile(
          join(etc, 'config.json'),
          JSON.stringify({
            repositories: [server.url],
            extensions: { hello: {} },
            veritySidecars: sidecars,
          }),
        );
        lanes.push(lane);
      }
      // Templates made by real runs: v1 = 1.0 installed; v2 = 2.0 current, 1.0 previous.
      await publish('1.0');
      for (const lane of lanes) {
        await useTemplate(lane, 'empty');
        expect((await agent(lane, 'update')).exitCode).toBe(0);
        await saveTemplate(lane, 'v1');
      }
      await publish('2.0');
      for (const lane of lanes) {
        expect((await agent(lane, 'update')).exitCode).toBe(0);
        await saveTemplate(lane, 'v2');
      }
      await publish('3.0');
      versions = await manifestVersions(sb.repo);
    });
    afterAll(async () => {
      await server?.close();
      await sb?.cleanup();
    });

    async function iteration(
      lane: Lane,
      index: number,
      op: RootOp,
      kill: Kill,
    ): Promise<KillableRun & { inTx: boolean }> {
      const spec = OPS[op];
      const what = `seed ${SEED} lane ${lane.name} #${index}: ${op} killed ${describeKill(kill)}`;
      await useTemplate(lane, spec.template);
      const run = await runKillable(
        process.execPath,
        [CLI, '--root', lane.root, '--json', '--log-level', 'error', ...spec.args],
        killOptions(kill),
      );
      summary.rootRuns++;
      let inTx = false;
      if ('step' in kill) expect(run.killed, `${what}: step not reached\n${run.stderr}`).toBe(true);
      if (run.killed) {
        kills++;
        summary.root++;
        const recovered = await agent(lane, 'recover');
        expect(recovered.exitCode, `${what}: recover\n${recovered.stderr}`).toBe(0);
        inTx = noteRecovery(recovered.stdout);
      } else {
        expect(run.exitCode, `${what}: not killed\n${run.stderr}`).toBe(0);
      }
      const { active } = await checkHost(join(lane.root, 'var/lib'), versions, lane.sidecars, what);
      if ('step' in kill)
        expect(active, what).toBe(expectedAfterStep(kill.step, spec.from, spec.to));
      else expect([spec.from, spec.to], what).toContain(active);
      return { ...run, inTx };
    }

    async function followingUpdate(lane: Lane, what: string): Promise<void> {
      const update = await agent(lane, 'update');
      expect(update.exitCode, `${what}: following update\n${update.stderr}`).toBe(0);
      const { active } = await checkHost(join(lane.root, 'var/lib'), versions, lane.sidecars, what);
      expect(active, `${what}: following update`).toBe('3.0');
    }

    async function runLane(
      lane: Lane,
      laneIndex: number,
      want: { kills: number; inTx: number },
    ): Promise<void> {
      const rng = prng(SEED + laneIndex * 7919);
      let laneKills = 0;
      let laneInTx = 0;
      let index = 0;
      const ops = Object.keys(OPS) as RootOp[];
      const count = (run: { killed: boolean; inTx: boolean }) => {
        if (run.killed) laneKills++;
        if (run.inTx) laneInTx++;
      };
      // (a) a forced stop at each journal step of each operation.
      for (const op of ops) {
        for (const step of ['begin', 'switch:hello', 'commit'])
          count(await iteration(lane, index++, op, { step }));
      }
      // (b) random instants until enough kills, and enough of them inside the transaction; now
      // and then a following update from what is left. Three of four draws aim inside the
      // transaction: a delay after `begin` below `txBound`, which follows the transaction's
      // length (a few ms without refresh). The others are a delay from the start, below the
      // op's bound: 1500 ms, lowered to the duration of a run that finished before its kill.
      const bound: Record<RootOp, number> = {
        install: ROOT_MAX_DELAY_MS,
        upgrade1: ROOT_MAX_DELAY_MS,
        upgrade2: ROOT_MAX_DELAY_MS,
        rollback: ROOT_MAX_DELAY_MS,
      };
      let txBound = 20;
      while (laneKills < want.kills || laneInTx < want.inTx) {
        expect(index, `seed ${SEED}: too few runs were killed in time`).toBeLessThan(
          (want.kills + want.inTx) * 4,
        );
        const op = ops[Math.floor(rng() * ops.length)] as RootOp;
        const aim = laneInTx < want.inTx && rng() < 0.75;
        const kill: Kill = aim
          ? { afterBeginMs: Math.floor(rng() * txBound) }
          : { afterMs: Math.floor(rng() * bound[op]) };
        const run = await iteration(lane, index++, op, kill);
        count(run);
        if (aim) txBound = run.inTx ? txBound + 1 : Math.max(1, Math.floor(txBound * 0.8));
        else if (!run.killed) bound[op] = Math.min(ROOT_MAX_DELAY_MS, Math.ceil(run.ms * 1.1));
        if (index % 25 === 0)
          await followingUpdate(lane, `seed ${SEED} lane ${lane.name} #${index}`);
      }
      await followingUpdate(lane, `seed ${SEED} lane ${lane.name} final`);
      console.log(
        `lane ${lane.name}: ${laneKills} kills (${laneInTx} inside a transaction) in ${index} runs; ` +
          `delay bounds ${JSON.stringify(bound)}, after begin < ${txBound} ms`,
      );
    }

    it(
      'every kill is recovered to one complete version, old or new',
      // About 300 s on a quiet 2-core machine; several times slower while other work loads it.
      { timeout: 900_000 },
      async () => {
        // The merge lane ran first: these lanes make up the rest of the kills wanted.
        const want = {
          kills: Math.ceil(Math.max(0, KILLS_WANTED - kills) / lanes.length),
          inTx: Math.ceil(Math.max(0, IN_TX_WANTED - summary.journals) / lanes.length),
        };
        // Two lanes at once: each CLI run is mostly single-threaded start-up.
        await Promise.all(lanes.map((lane, i) => runLane(lane, i, want)));
      },
    );
  });

  it('killed the agent at least 200 times, at least 150 of them inside a transaction', () => {
    expect(kills).toBeGreaterThanOrEqual(KILLS_WANTED);
    // A kill inside the transaction leaves a journal, which `recover` reports as recovered.
    expect(summary.journals).toBeGreaterThanOrEqual(IN_TX_WANTED);
  });
});
