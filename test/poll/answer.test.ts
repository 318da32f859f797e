/**
 * The poll answered from the record (src/poll/): against a real nginx and the real CLI, a quiet
 * `update` leaves a record and the next identical poll answers from it, printing the same and
 * changing nothing; every input the plan reads, changed, makes the next poll a whole run.
 *
 * Which path answered is seen from the record itself: a whole quiet run writes it again (a new
 * inode), an answered poll only reads it.
 */
import {
  copyFile,
  mkdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_AGE_MS, type PollRecord } from '../../src/poll/record.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, publishFixture, snapshot, type Sandbox } from '../helpers/sandbox.ts';

describe.skipIf(missing('nginx'))('a poll answered from the record of the last quiet run', () => {
  let sb: Sandbox;
  let nginx: RunningNginx;
  let root = '';
  let stateDir = '';
  let recordFile = '';
  let link = '';
  let baseConfig: Record<string, unknown> = {};

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    stateDir = join(root, 'var/lib/sysext-agent');
    recordFile = join(stateDir, 'poll.json');
    link = join(root, 'var/lib/extensions/hello.raw');
    await publishFixture(sb, '1.0');
    nginx = await startNginx(sb.repo);
    // One attempt: the last test stops the server, and the whole run should fail fast.
    baseConfig = {
      repositories: [nginx.url],
      extensions: { hello: {} },
      network: { attempts: 1, connectTimeoutSec: 2 },
    };
    await sb.writeConfig(baseConfig);
  });
  afterAll(async () => {
    await nginx?.stop();
    await sb?.cleanup();
  });

  const poll = (extra: readonly string[] = [], env: Record<string, string> = {}) =>
    runCli(['--root', root, '--config', sb.configFile, ...extra, 'update'], env);

  /** The record's identity: a whole run replaces the file, an answered poll does not. */
  async function stamp(): Promise<string> {
    const st = await stat(recordFile, { bigint: true }).catch(() => null);
    return st ? `${st.ino}:${st.mtimeNs}` : 'absent';
  }

  /** A whole quiet run that leaves a record; returns its stamp. */
  async function settle(): Promise<string> {
    const r = await poll();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello: up-to-date (1.0)');
    const s = await stamp();
    expect(s).not.toBe('absent');
    return s;
  }

  /** After `change`, the next poll is a whole run: the record was written again or removed. */
  async function wholeRunAfter(
    change: () => Promise<unknown>,
    extra: readonly string[] = [],
    env: Record<string, string> = {},
  ): Promise<CliResult> {
    const before = await settle();
    await change();
    const r = await poll(extra, env);
    expect(await stamp(), 'the record answered a poll after the change').not.toBe(before);
    return r;
  }

  it('a quiet update leaves a record; the same poll then prints the same and changes nothing', async () => {
    const install = await poll();
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/^hello: staged/);
    // The install had something to do: its output would not be the next poll's.
    expect(await stamp()).toBe('absent');

    const first = await settle();
    const record = JSON.parse(await readFile(recordFile, 'utf8')) as PollRecord;
    const manifest = JSON.parse(
      Buffer.from(
        (JSON.parse(await readFile(join(sb.repo, 'manifest.json'), 'utf8')) as { payload: string })
          .payload,
        'base64',
      ).toString(),
    ) as { expires: string };
    expect(record.validUntil).toBeLessThanOrEqual(Date.parse(manifest.expires));
    expect(record.validUntil).toBeLessThanOrEqual(record.writtenAt + MAX_RECORD_AGE_MS);
    expect(record.requests.map((q) => [new URL(q.url).pathname, q.status])).toEqual([
      ['/keys/1.json', 404],
      ['/manifest.json', 304],
    ]);

    const before = await snapshot(root);
    const answered = await poll();
    expect(answered.exitCode, answered.stderr).toBe(0);
    expect(answered.stdout).toBe('hello: up-to-date (1.0)');
    expect(answered.stderr).toBe('');
    expect(await stamp()).toBe(first);
    expect(await snapshot(root)).toEqual(before);

    // At info level it says so, in one line.
    const info = await poll(['--log-level', 'info']);
    expect(info.exitCode).toBe(0);
    const again = await poll(['--log-level', 'info']);
    expect(again.stderr).toMatch(/^sysext-agent: nothing new: manifest serial \d+ from http/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  });

  const cases: [string, () => Promise<unknown>, (() => Promise<unknown>)?][] = [
    [
      'the configuration rewritten with the same bytes',
      async () => writeFile(sb.configFile, await readFile(sb.configFile)),
    ],
    [
      'a key added to the trust store',
      () => copyFile(join(sb.keysDir, 'publisher.pub'), join(sb.keysDir, 'second.pub')),
      () => rm(join(sb.keysDir, 'second.pub')),
    ],
    [
      'state.json rewritten with the same bytes',
      async () => {
        const f = join(stateDir, 'state.json');
        await writeFile(f, await readFile(f));
      },
    ],
    [
      'a stored file removed',
      () => rm(join(stateDir, 'images/hello/hello_1.0.roothash'), { force: true }),
    ],
    [
      'an os-release appearing under the root',
      async () => {
        await mkdir(join(root, 'etc'), { recursive: true });
        await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=13\n');
      },
      () => rm(join(root, 'etc/os-release')),
    ],
    [
      'a machine id appearing',
      async () => {
        await mkdir(join(root, 'etc'), { recursive: true });
        await writeFile(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
      },
      () => rm(join(root, 'etc/machine-id')),
    ],
    ['a stale lock left by a killed run', () => writeFile(join(stateDir, 'lock'), '')],
    [
      'the record past its time',
      async () => {
        const r = JSON.parse(await readFile(recordFile, 'utf8')) as PollRecord;
        await writeFile(recordFile, JSON.stringify({ ...r, validUntil: Date.now() - 1 }));
      },
    ],
    [
      'the record written by another agent',
      async () => {
        const r = JSON.parse(await readFile(recordFile, 'utf8')) as PollRecord;
        await writeFile(recordFile, JSON.stringify({ ...r, agent: `${r.agent} (older)` }));
      },
    ],
    ['the record torn', () => writeFile(recordFile, '{"format":1,')],
  ];

  for (const [what, change, undo] of cases) {
    it(`a whole run after ${what}`, async () => {
      const r = await wholeRunAfter(change);
      expect(r.exitCode, r.stderr).toBe(0);
      await undo?.();
    });
  }

  it('a whole run after the activation symlink was removed', async () => {
    const target = await readlink(link);
    const r = await wholeRunAfter(() => unlink(link));
    expect(r.exitCode, r.stderr).toBe(0);
    await rm(link, { force: true });
    await symlink(target, link);
  });

  it('a whole run with another environment, command line or working directory', async () => {
    await wholeRunAfter(async () => undefined, [], { SYSTEMD_OS_RELEASE: '/usr/lib/os-release' });
    await wholeRunAfter(async () => undefined, [], { SYSEXT_AGENT_FAST_POLL: '0' });
    const json = await wholeRunAfter(async () => undefined, ['--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      extensions: { hello: { result: 'up-to-date' } },
    });
    // The same --json poll once more: answered, the same document.
    const s = await stamp();
    const answered = await poll(['--json']);
    expect(await stamp()).toBe(s);
    expect(answered.stdout).toBe(json.stdout);
  });

  it('a run with a warning, or with metrics to write, leaves no record', async () => {
    await settle();
    // A key the trust store ignores (not named *.pub) is a warning on every run: it must stay
    // visible, so no record may answer the next poll in silence.
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(sb.keysDir, 'publisher.txt'));
    const warned = await poll(['--log-level', 'error']);
    expect(warned.exitCode, warned.stderr).toBe(0);
    expect(await stamp()).toBe('absent');
    await rm(join(sb.keysDir, 'publisher.txt'));

    await settle();
    await sb.writeConfig({ ...baseConfig, metrics: '/var/lib/node_exporter/sysext-agent.prom' });
    const metered = await poll();
    expect(metered.exitCode, metered.stderr).toBe(0);
    expect(await stamp()).toBe('absent');
    await sb.writeConfig(baseConfig);
  });

  it('a new extension in the configuration is installed, not answered from the record', async () => {
    await settle();
    await sb.writeConfig({ ...baseConfig, extensions: { hello: {}, other: {} } });
    const r = await poll();
    expect(r.stdout).toContain('other: skipped');
    await sb.writeConfig(baseConfig);
  });

  it('a broken keys/1.json on the server: the whole run refuses it (exit 1)', async () => {
    await settle();
    await mkdir(join(sb.repo, 'keys'), { recursive: true });
    await writeFile(join(sb.repo, 'keys/1.json'), '{}');
    const r = await poll();
    expect(r.exitCode).toBe(1);
    await rm(join(sb.repo, 'keys'), { recursive: true });
  });

  it('a new version published: the poll updates to it', async () => {
    await settle();
    await publishFixture(sb, '2.0');
    const r = await poll();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello: staged 1.0 -> 2.0: switched; merged at the next refresh');
  });

  it('the server gone: the whole run reports the network error (exit 1)', async () => {
    const r0 = await poll();
    expect(r0.stdout).toBe('hello: up-to-date (2.0)');
    expect(await stamp()).not.toBe('absent');
    await nginx.stop();
    const r = await poll();
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1/);
  });
});
