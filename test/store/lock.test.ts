/**
 * Acceptance 4: one instance at a time. Two updates started together on one tree: one wins, the
 * other exits 75 (LOCKED) at once and changes nothing. A lock left by a dead process does not
 * block; one held by a live process does (exit 75), and `--wait` waits for it. Plus unit tests of
 * src/store/lock.ts itself.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { describeMs, HostLock, type LockLog } from '../../src/store/lock.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), as the lock records it. */
function startTime(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

/** A PID that no process has any more (a `true` that has exited). */
async function deadPid(): Promise<number> {
  const child = execa('true');
  await child;
  return child.pid as number;
}

const ownToken = () => `${process.pid} ${startTime(process.pid)}\n`;

/** A logger that keeps what it is given: [level, message, fields]. */
function captureLog(): { lines: [string, string, Record<string, unknown>][]; log: LockLog } {
  const lines: [string, string, Record<string, unknown>][] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push([level, msg, fields]);
    };
  return { lines, log: { info: at('info'), warn: at('warn') } as unknown as LockLog };
}

/** A live process that is not us, named in the lock file as its holder. */
async function liveHolder(file: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = execa('sleep', ['60'], { reject: false });
  const pid = child.pid as number;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${pid} ${startTime(pid)}\n`);
  return {
    pid,
    stop: async () => {
      child.kill('SIGKILL');
      await child;
    },
  };
}

async function codeOfRejection(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('HostLock (src/store/lock.ts)', () => {
  let dir = '';
  let file = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-lock-'));
    file = join(dir, 'state/lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('acquire writes "PID STARTTIME" and release removes it and the directory it created', async () => {
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    expect(await readdir(join(dir, 'state'))).toEqual(['lock']);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps a directory it did not create, and one that is no longer empty', async () => {
    await mkdir(join(dir, 'state'));
    const first = await HostLock.acquire(file, { waitMs: 0 });
    await first.release();
    expect(await readdir(dir)).toEqual(['state']);
    await rm(join(dir, 'state'), { recursive: true });
    const second = await HostLock.acquire(file, { waitMs: 0 });
    await writeFile(join(dir, 'state/state.json'), '{}');
    await second.release();
    expect(await readdir(join(dir, 'state'))).toEqual(['state.json']);
  });

  it('a lock held by a live process is LOCKED without --wait', async () => {
    const held = await HostLock.acquire(file, { waitMs: 0 });
    expect(await codeOfRejection(HostLock.acquire(file, { waitMs: 0 }))).toBe('LOCKED');
    // The failed attempt leaves no temp file next to the lock.
    expect(await readdir(join(dir, 'state'))).toEqual(['lock']);
    await held.release();
  });

  it('with wait, acquire returns once the holder releases, even if it removed the directory', async () => {
    // The holder created the directory, so its release removes it again when empty: the
    // waiter must make it again instead of failing on the missing directory.
    const held = await HostLock.acquire(file, { waitMs: 60_000 });
    let got: HostLock | undefined;
    const waiting = HostLock.acquire(file, { waitMs: 60_000, pollMs: 20 }).then((l) => (got = l));
    await sleep(200);
    expect(got).toBeUndefined();
    await held.release();
    await waiting;
    expect(got).toBeDefined();
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    await got?.release();
    // No lock and no temp file is left (an empty directory may be, when the waiter did not make it).
    const left = await readdir(dir, { recursive: true });
    expect(left.filter((e) => e !== 'state')).toEqual([]);
  });

  it('a lock naming a dead PID is taken over at once', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(file, `${await deadPid()} 12345\n`);
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    await lock.release();
    expect(await readdir(join(dir, 'state'))).toEqual([]);
  });

  it('a lock naming a live PID with another start time (a reused PID) is stale', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(file, `${process.pid} 1\n`);
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    await lock.release();
  });

  it('a lock with garbage in it is stale', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(file, 'not a pid\n');
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    await lock.release();
  });

  it('an empty lock (a power loss before its data reached the disk) is stale', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(file, '');
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    expect(await readFile(file, 'utf8')).toBe(ownToken());
    await lock.release();
  });

  it('of several acquirers racing over a stale lock exactly one wins, every time', async () => {
    const dead = await deadPid();
    for (let trial = 0; trial < 200; trial++) {
      await mkdir(join(dir, 'state'), { recursive: true });
      await writeFile(file, `${dead} 12345\n`);
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, () => HostLock.acquire(file, { waitMs: 0 })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `trial ${trial}`).toHaveLength(1);
      await (won[0] as PromiseFulfilledResult<HostLock>).value.release();
      await rm(file, { force: true });
    }
  });

  it('release leaves a lock that is no longer its own', async () => {
    const lock = await HostLock.acquire(file, { waitMs: 0 });
    await writeFile(file, `${await deadPid()} 1\n`);
    await lock.release();
    expect(await readdir(join(dir, 'state'))).toEqual(['lock']);
  });

  it('taking over a stale lock is logged at warning with the dead PID', async () => {
    const dead = await deadPid();
    await mkdir(join(dir, 'state'));
    await writeFile(file, `${dead} 12345\n`);
    const { lines, log } = captureLog();
    const lock = await HostLock.acquire(file, { waitMs: 0, log });
    expect(lines).toHaveLength(1);
    const [level, msg, fields] = lines[0] as [string, string, Record<string, unknown>];
    expect(level).toBe('warn');
    expect(msg).toContain(`took over the lock ${file}`);
    expect(msg).toContain(`pid ${dead} is no longer running`);
    expect(fields.pid).toBe(String(dead));
    await lock.release();
  });

  it('an empty or reused-PID lock taken over says why', async () => {
    await mkdir(join(dir, 'state'));
    for (const [content, why] of [
      ['', /empty.*power loss/],
      [`${process.pid} 1\n`, /PID was reused/],
    ] as const) {
      await writeFile(file, content);
      const { lines, log } = captureLog();
      const lock = await HostLock.acquire(file, { waitMs: 0, log });
      expect(lines.map(([l]) => l)).toEqual(['warn']);
      expect(lines[0]?.[1]).toMatch(why);
      await lock.release();
    }
  });

  it('a live holder and no wait: LOCKED at once, nothing logged (the error says it)', async () => {
    const holder = await liveHolder(file);
    try {
      const { lines, log } = captureLog();
      const err = await HostLock.acquire(file, { waitMs: 0, log }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('LOCKED');
      expect((err as Error).message).toContain(`pid ${holder.pid}`);
      expect(lines).toEqual([]);
    } finally {
      await holder.stop();
    }
  });

  it('waiting: one warning naming the holder, a line every reportEveryMs, LOCKED at the bound', async () => {
    const holder = await liveHolder(file);
    try {
      const { lines, log } = captureLog();
      const started = performance.now();
      const err = await HostLock.acquire(file, {
        waitMs: 1000,
        pollMs: 20,
        reportEveryMs: 300,
        log,
      }).catch((e: unknown) => e);
      const took = performance.now() - started;
      expect((err as { code?: string }).code).toBe('LOCKED');
      expect((err as Error).message).toMatch(/still holds .* after waiting 1(\.0)?s; nothing done/);
      expect(took).toBeGreaterThanOrEqual(1000);
      expect(took).toBeLessThan(3000);
      const [first, ...rest] = lines;
      expect(first?.[0]).toBe('warn');
      expect(first?.[1]).toContain(`(pid ${holder.pid}) holds ${file}; waiting for it, at most 1s`);
      // 1000 ms of waiting, a line each 300 ms after the first: 3 of them.
      expect(rest.length).toBeGreaterThanOrEqual(2);
      expect(rest.length).toBeLessThanOrEqual(3);
      for (const [level, msg] of rest) {
        expect(level).toBe('info');
        expect(msg).toMatch(
          new RegExp(`still waiting for sysext-agent pid ${holder.pid} .* of at most 1s`),
        );
      }
    } finally {
      await holder.stop();
    }
  });

  it('waiting ends as soon as the holder dies: the stale lock is taken over', async () => {
    const holder = await liveHolder(file);
    const { lines, log } = captureLog();
    const waiting = HostLock.acquire(file, { waitMs: 60_000, pollMs: 20, log });
    await sleep(300);
    await holder.stop();
    const lock = await waiting;
    expect(lines.map(([level]) => level)).toEqual(['warn', 'warn']);
    expect(lines[1]?.[1]).toContain(`pid ${holder.pid} is no longer running`);
    await lock.release();
  });

  it('durations in messages read as they are written', () => {
    expect(describeMs(600_000)).toBe('10m');
    expect(describeMs(90_000)).toBe('1m30s');
    expect(describeMs(3_600_000)).toBe('1h');
    expect(describeMs(1500)).toBe('1.5s');
    expect(describeMs(2000)).toBe('2s');
  });

  it('of several acquirers at once exactly one gets the lock', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => HostLock.acquire(file, { waitMs: 0 })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('LOCKED');
    await (won[0] as PromiseFulfilledResult<HostLock>).value.release();
  });
});

describe('--wait[=DURATION] (CLI, `recover`: no configuration needed)', () => {
  let root = '';
  let file = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sysext-agent-wait-'));
    file = join(root, 'var/lib/sysext-agent/lock');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('--wait=2s with a live holder: exit 75 after 2 s, saying who held it and how long it waited', async () => {
    const holder = await liveHolder(file);
    try {
      const started = Date.now();
      const r = await runCli(['--root', root, '--wait=2s', 'recover']);
      const took = Date.now() - started;
      expect(r.exitCode).toBe(75);
      expect(took).toBeGreaterThanOrEqual(2000);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        new RegExp(
          `^sysext-agent: warning: .*\\(pid ${holder.pid}\\) holds .*waiting for it, at most 2s`,
        ),
      );
      expect(lines[1]).toMatch(
        /^sysext-agent: error: .* still holds .* after waiting 2s; nothing done/,
      );
    } finally {
      await holder.stop();
    }
  });

  it('in the journal: the waiting line at <4>, the timeout at <3>', async () => {
    const holder = await liveHolder(file);
    try {
      const r = await runCli(['--root', root, '--log-format', 'journal', '--wait=1s', 'recover']);
      expect(r.exitCode).toBe(75);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines[0]).toMatch(/^<4>.*waiting for it, at most 1s/);
      expect(lines.at(-1)).toMatch(/^<3>.*after waiting 1s/);
    } finally {
      await holder.stop();
    }
  });

  it('a bare --wait before the command waits (the default bound) and then runs', async () => {
    const holder = await liveHolder(file);
    try {
      const run = execa(process.execPath, [CLI, '--root', root, '--wait', 'recover'], {
        reject: false,
        stdin: 'ignore',
      });
      // The holder goes once the agent says it waits for it.
      let stderr = '';
      for await (const line of run.iterable({ from: 'stderr' })) {
        stderr += `${line}\n`;
        if (line.includes('waiting for it')) await holder.stop();
      }
      const r = await run;
      expect(r.exitCode, stderr).toBe(0);
      expect(stderr).toMatch(/waiting for it, at most 10m/);
      expect(stderr).toMatch(/took over the lock .* is no longer running/);
    } finally {
      await holder.stop();
    }
  });

  it('an invalid duration is a usage error (exit 2)', async () => {
    const r = await runCli(['--root', root, '--wait=soon', 'recover']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/invalid duration "soon"/);
  });
});

// mksquashfs and unsquashfs only: a tiny image padded with random bytes (nothing is merged
// with --root).
describe.skipIf(missing('mksquashfs', 'unsquashfs'))('one instance at a time (CLI, --root)', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  let template = '';
  let n = 0;

  const agent = (root: string, ...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'warn', ...args]);

  async function freshRoot(): Promise<string> {
    const root = join(sb.dir, `root-${n++}`);
    await cp(template, root, { recursive: true });
    return root;
  }

  /** A snapshot where state.json's timestamps do not count. */
  async function comparable(root: string): Promise<Record<string, unknown>> {
    const snap: Record<string, unknown> = await snapshot(root);
    const file = join(root, 'var/lib/sysext-agent/state.json');
    snap['./var/lib/sysext-agent/state.json'] = JSON.parse(
      (await readFile(file, 'utf8')).replace(/"(at|acceptedAt)": "[^"]*"/g, '"$1": "T"'),
    );
    return snap;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    // Work for the winner: 16 MiB to download, hash and build a verity tree for: a real squashfs
    // image (publish reads its extension-release) padded with random bytes.
    const [image] = (await buildImages(sb.images, ['1.0'])) as [string];
    const fs = await readFile(image);
    await writeFile(image, Buffer.concat([fs, randomBytes((16 << 20) - fs.length)]));
    expect((await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image])).exitCode).toBe(0);
    template = join(sb.dir, 'template');
    const etc = join(template, 'etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({ repositories: [server.url], extensions: { hello: {} } }),
    );
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('two updates started together: one exits 0, the other 75 at once, changing nothing', async () => {
    const reference = await freshRoot();
    expect((await agent(reference, 'update')).exitCode).toBe(0);
    const expected = await comparable(reference);

    // Both start at the same moment; should the second one be so late that the first is done
    // (it then finds nothing to do and exits 0), the race is tried again on a fresh tree.
    let raced = false;
    for (let attempt = 0; attempt < 3 && !raced; attempt++) {
      const root = await freshRoot();
      // The order in which the two processes ended (0 and 1 name them).
      const finished: number[] = [];
      const runs = await Promise.all(
        [0, 1].map((i) =>
          agent(root, 'update').then((r) => {
            finished.push(i);
            return r;
          }),
        ),
      );
      const codes = runs.map((r) => r.exitCode).sort((a, b) => a - b);
      expect([
        [0, 0],
        [0, 75],
      ]).toContainEqual(codes);
      expect(await comparable(root)).toEqual(expected);
      if (codes[1] !== 75) continue;
      raced = true;
      const winner = runs.findIndex((r) => r.exitCode === 0);
      const loser = runs.findIndex((r) => r.exitCode === 75);
      expect(JSON.parse(runs[winner]?.stdout ?? '').extensions.hello).toMatchObject({ to: '1.0' });
      expect(JSON.parse(runs[loser]?.stdout ?? '').error.code).toBe('LOCKED');
      // The loser did not wait for the winner: it ended while the winner was still at work.
      expect(finished).toEqual([loser, winner]);
    }
    expect(raced).toBe(true);
  });

  it('a lock naming a dead process does not block', async () => {
    const root = await freshRoot();
    const lockFile = join(root, 'var/lib/sysext-agent/lock');
    await mkdir(join(root, 'var/lib/sysext-agent'), { recursive: true });
    await writeFile(lockFile, `${await deadPid()} 4242\n`);
    const r = await agent(root, 'update');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ to: '1.0' });
    await expect(stat(lockFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a lock held by a live process: exit 75 at once; with --wait, success once it is gone', async () => {
    const root = await freshRoot();
    const stateDir = join(root, 'var/lib/sysext-agent');
    const lockFile = join(stateDir, 'lock');
    const holder = execa('sleep', ['30'], { reject: false });
    try {
      const pid = holder.pid as number;
      await mkdir(stateDir, { recursive: true });
      await writeFile(lockFile, `${pid} ${startTime(pid)}\n`);
      const before = await snapshot(root);

      const locked = await agent(root, 'update');
      expect(locked.exitCode).toBe(75);
      expect(JSON.parse(locked.stdout).error.code).toBe('LOCKED');
      expect(await snapshot(root)).toEqual(before);
      // Other state-changing commands are refused the same way.
      for (const cmd of ['rollback', 'vacuum', 'recover']) {
        const r = await agent(root, cmd);
        expect(r.exitCode, cmd).toBe(75);
        expect(JSON.parse(r.stdout).error.code, cmd).toBe('LOCKED');
      }
      expect(await snapshot(root)).toEqual(before);
      // status still answers (without recovery) while another instance runs.
      expect((await agent(root, 'status')).exitCode).toBe(0);
      expect(await snapshot(root)).toEqual(before);

      let done = false;
      const waiting = agent(root, '--wait', 'update').then((r) => {
        done = true;
        return r;
      });
      await sleep(1500);
      expect(done).toBe(false);
      expect(await snapshot(root)).toEqual(before);
      holder.kill('SIGKILL');
      const r = await waiting;
      expect(r.exitCode).toBe(0);
      expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ to: '1.0' });
      await expect(stat(lockFile)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }
  });
});
