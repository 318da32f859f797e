/**
 * In-process fakes for the transaction's edges, over a temp root (no root, no systemd): a
 * systemd that "merges" whatever the activation symlinks point at when it is refreshed, and a
 * health runner with scripted answers. Each call can be made to fail, to lie or to throw.
 */
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { hostPaths, type HostPaths } from '../../src/config/paths.ts';
import type { ExtensionConfig } from '../../src/config/schema.ts';
import { AgentError } from '../../src/errors.ts';
import type { HealthRequest, HealthResult, HealthRunner } from '../../src/health/runner.ts';
import type { ExtensionKind } from '../../src/manifest/schema.ts';
import { storedImage } from '../../src/store/layout.ts';
import type { MergeTarget, SystemdPort, TrialMerge, TrialResult } from '../../src/systemd/port.ts';
import type { TxEnv } from '../../src/transaction/env.ts';

type Call = 'refresh' | 'merged' | 'releaseVisible' | 'loopBackedBy' | 'trialMerge';

/** A fault: return an error to throw it on that call (count = 1-based call number). */
export type Fault = (count: number) => Error | undefined;

export interface FakeSystemd extends SystemdPort {
  /** name -> store image path, per kind, as of the last successful refresh. */
  readonly live: Map<string, string>;
  readonly calls: Record<Call, number>;
  faults: Partial<Record<Call, Fault>>;
  /** Tools present; both by default. */
  tools: Set<ExtensionKind>;
  /** Names that `merged` leaves out although they are live (systemd skipped them). */
  skipped: Set<string>;
  /** Every trial merge asked for, in order. */
  readonly trials: TrialMerge[];
  /** Why a full trial fails whatever the agent's directories hold (an entry in /etc/extensions). */
  brokenElsewhere: string | null;
  /** Why every trial fails, even of nothing (a host where trial merges do not work). */
  brokenAlways: string | null;
}

/**
 * The fake's rule for a trial: an image merges when its bytes are those `tempHost().store`
 * writes ("image NAME VERSION"); a directory always does. Anything else is "random bytes".
 */
async function mergesAlone(path: string): Promise<string | null> {
  const info = await stat(path).catch(() => null);
  if (info === null || info.isDirectory()) return null;
  const bytes = await readFile(path, 'utf8');
  return bytes.startsWith('image ')
    ? null
    : `Failed to read metadata for image ${path}: Package not installed`;
}

async function trialOf(fake: FakeSystemd, paths: HostPaths, t: TrialMerge): Promise<TrialResult> {
  if (fake.brokenAlways) return { ok: false, detail: fake.brokenAlways };
  const shown = t.only
    ? t.only.files
        .filter((f) => f.name.endsWith('.raw') || ('directory' in f && f.directory))
        .map((f) => ('link' in f ? resolve(t.only?.dir ?? '/', f.link) : f.source))
    : [...(await linksOrFiles(t.kind === 'sysext' ? paths.sysextDir : paths.confextDir))];
  for (const path of shown) {
    const why = await mergesAlone(path);
    if (why) return { ok: false, detail: `${why} (exit 1)` };
  }
  if (!t.only && fake.brokenElsewhere) return { ok: false, detail: fake.brokenElsewhere };
  return { ok: true, detail: '' };
}

/** What systemd would take from `dir`: NAME.raw (followed) and directories. */
async function linksOrFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (entry.startsWith('.')) continue;
    const info = await stat(join(dir, entry)).catch(() => null);
    if (info?.isDirectory() || (entry.endsWith('.raw') && info?.isFile()))
      found.push(join(dir, entry));
  }
  return found;
}

async function linksIn(dir: string): Promise<Map<string, string>> {
  const live = new Map<string, string>();
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!entry.endsWith('.raw') || entry.startsWith('.')) continue;
    const target = await readlink(join(dir, entry)).catch(() => null);
    if (target !== null) live.set(entry.slice(0, -4), resolve(dir, target));
  }
  return live;
}

export function fakeSystemd(paths: HostPaths): FakeSystemd {
  const calls: Record<Call, number> = {
    refresh: 0,
    merged: 0,
    releaseVisible: 0,
    loopBackedBy: 0,
    trialMerge: 0,
  };
  const fake: FakeSystemd = {
    live: new Map(),
    calls,
    faults: {},
    tools: new Set(['sysext', 'confext']),
    skipped: new Set(),
    trials: [],
    brokenElsewhere: null,
    brokenAlways: null,
    hasTool: async (kind) => fake.tools.has(kind),
    refresh: async (target: MergeTarget) => {
      fault('refresh');
      const dir = target.kind === 'sysext' ? paths.sysextDir : paths.confextDir;
      for (const [k] of fake.live) if (k.startsWith(`${target.kind}:`)) fake.live.delete(k);
      for (const [name, image] of await linksIn(dir))
        fake.live.set(`${target.kind}:${name}`, image);
    },
    merged: async (target: MergeTarget) => {
      fault('merged');
      const names = [...fake.live.keys()]
        .filter((k) => k.startsWith(`${target.kind}:`))
        .map((k) => k.slice(target.kind.length + 1))
        .filter((n) => !fake.skipped.has(n));
      return new Map([[target.kind === 'sysext' ? '/usr' : '/etc', names]]);
    },
    releaseVisible: async (target: MergeTarget, name: string) => {
      fault('releaseVisible');
      return fake.live.has(`${target.kind}:${name}`);
    },
    version: async () => '252.39-1~deb12u2',
    loopBackedBy: async (image: string) => {
      fault('loopBackedBy');
      return [...fake.live.values()].includes(image);
    },
    trialMerge: async (trial: TrialMerge) => {
      fault('trialMerge');
      fake.trials.push(trial);
      return trialOf(fake, paths, trial);
    },
  };
  function fault(call: Call): void {
    calls[call]++;
    const err = fake.faults[call]?.(calls[call]);
    if (err) throw err;
  }
  return fake;
}

export const failing = (message = 'simulated failure'): Error =>
  new AgentError('MERGE_FAILED', message);

export interface FakeHealth extends HealthRunner {
  readonly runs: HealthRequest[];
  /** Answer per `name@version`; healthy when absent. A thrown error is a check that cannot start. */
  answers: Map<string, HealthResult | Error>;
}

export function fakeHealth(): FakeHealth {
  const fake: FakeHealth = {
    runs: [],
    answers: new Map(),
    run: async (req) => {
      fake.runs.push(req);
      const answer = fake.answers.get(`${req.name}@${req.version}`);
      if (answer instanceof Error) throw answer;
      return answer ?? { ok: true, detail: 'health check passed' };
    },
  };
  return fake;
}

export interface TempHost {
  paths: Readonly<HostPaths>;
  systemd: FakeSystemd;
  health: FakeHealth;
  env(overrides?: Partial<TxEnv>): TxEnv;
  /** Puts complete (fake) stored versions into the store. */
  store(name: string, ...versions: string[]): Promise<void>;
  cleanup(): Promise<void>;
}

const quiet = pino({ level: 'silent' });
const withCheck: ExtensionConfig = {
  healthCheck: ['/bin/true'],
  healthTimeoutSec: 5,
} as ExtensionConfig;

export async function tempHost(): Promise<TempHost> {
  const dir = await mkdtemp(join(tmpdir(), 'sysext-agent-tx-'));
  const paths = hostPaths(dir);
  for (const d of [paths.stateDir, paths.imagesDir, paths.sysextDir, paths.confextDir])
    await mkdir(d, { recursive: true });
  const systemd = fakeSystemd(paths);
  const health = fakeHealth();
  return {
    paths,
    systemd,
    health,
    env: (overrides = {}) => ({
      paths,
      log: quiet,
      refresh: true,
      rootOption: dir,
      sidecars: false,
      now: () => new Date('2026-11-26T12:00:00Z'),
      systemd,
      health,
      healthOf: () => withCheck,
      ...overrides,
    }),
    store: async (name, ...versions) => {
      for (const v of versions) {
        const s = storedImage(paths, name, v);
        await mkdir(join(paths.imagesDir, name), { recursive: true });
        await writeFile(s.hashFile, `verity ${v}`);
        await writeFile(s.rootHashFile, `${'0'.repeat(64)}\n`);
        await writeFile(s.image, `image ${name} ${v}`);
      }
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
