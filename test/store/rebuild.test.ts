/**
 * An empty, truncated or schema-invalid state.json never crashes a command: it is moved aside
 * (state.json.corrupt-*), rebuilt from the activation symlink and the store, with a warning on
 * stderr, and the command goes on (PRODUCT.md promise 2: state.json is valid).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { readState } from '../../src/store/state.ts';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const CORRUPTIONS: Record<string, (good: Buffer) => Buffer> = {
  empty: () => Buffer.alloc(0),
  truncated: (good) => good.subarray(0, Math.floor(good.length / 2)),
  'schema-invalid': (good) => {
    const doc = JSON.parse(good.toString());
    doc.extensions.hello.current = 7;
    return Buffer.from(JSON.stringify(doc));
  },
  'wrong schema version': (good) => {
    const doc = JSON.parse(good.toString());
    doc.schema = 2;
    return Buffer.from(JSON.stringify(doc));
  },
  null: () => Buffer.from('null\n'),
  binary: () => randomBytes(300),
};

// Real squashfs images (mksquashfs); with --root nothing is merged.
describe.skipIf(missing('mksquashfs'))('a corrupt state.json is moved aside and rebuilt', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  let n = 0;

  const stateDirOf = (root: string) => join(root, 'var/lib/sysext-agent');
  const agent = (root: string, ...args: string[]) =>
    runCli(['--root', root, '--json', '--log-format', 'json', '--log-level', 'warn', ...args]);

  async function fromTemplate(template: string): Promise<string> {
    const root = join(sb.dir, `root-${n++}`);
    await cp(join(sb.dir, template), root, { recursive: true, verbatimSymlinks: true });
    return root;
  }

  async function publish(version: string): Promise<void> {
    const image = join(sb.images, `hello_${version}.raw`);
    expect((await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image])).exitCode).toBe(0);
  }

  /** Writes the corrupt bytes; returns them for comparison with the file moved aside. */
  async function corrupt(root: string, kind: string): Promise<Buffer> {
    const file = join(stateDirOf(root), 'state.json');
    const bad = (CORRUPTIONS[kind] as (good: Buffer) => Buffer)(await readFile(file));
    await writeFile(file, bad);
    return bad;
  }

  /** The warning (a JSON log line at level warn naming where the file went), the file aside. */
  async function expectMovedAside(root: string, stderr: string, bad: Buffer): Promise<void> {
    const warnings = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; moved?: string })
      .filter((l) => l.level === 40 && l.moved);
    expect(warnings).toHaveLength(1);
    const aside = (await readdir(stateDirOf(root))).filter((f) =>
      f.startsWith('state.json.corrupt-'),
    );
    expect(aside).toHaveLength(1);
    expect(warnings[0]?.moved).toBe(join(stateDirOf(root), aside[0] as string));
    expect(await readFile(join(stateDirOf(root), aside[0] as string))).toEqual(bad);
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    await buildImages(sb.images, ['1.0', '2.0', '3.0']);
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    const etc = join(sb.dir, 'template/etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({ repositories: [server.url], extensions: { hello: {} } }),
    );
    // at2: 2.0 current, 1.0 previous. rolled-back: 1.0 current after a rollback from 2.0.
    await publish('1.0');
    expect((await agent(join(sb.dir, 'template'), 'update')).exitCode).toBe(0);
    await publish('2.0');
    expect((await agent(join(sb.dir, 'template'), 'update')).exitCode).toBe(0);
    await cp(join(sb.dir, 'template'), join(sb.dir, 'at2'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    expect((await agent(join(sb.dir, 'template'), 'rollback')).exitCode).toBe(0);
    await cp(join(sb.dir, 'template'), join(sb.dir, 'rolled-back'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await publish('3.0');
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it.each(Object.keys(CORRUPTIONS))(
    '%s: status --json exits 0 with the state rebuilt',
    async (kind) => {
      const root = await fromTemplate('at2');
      const bad = await corrupt(root, kind);
      const status = await agent(root, 'status');
      expect(status.exitCode).toBe(0);
      expect(JSON.parse(status.stdout).extensions.hello).toMatchObject({
        kind: 'sysext',
        current: '2.0',
        previous: '1.0',
        installed: ['1.0', '2.0'],
      });
      await expectMovedAside(root, status.stderr, bad);
      const state = await readState(join(stateDirOf(root), 'state.json'));
      expect(state.extensions.hello).toMatchObject({ current: '2.0', previous: '1.0' });
      // Once rebuilt, the next command finds a valid state and warns no more.
      const again = await agent(root, 'status');
      expect(again.exitCode).toBe(0);
      expect(again.stderr).toBe('');
    },
  );

  it.each(Object.keys(CORRUPTIONS))('%s: update rebuilds, then updates', async (kind) => {
    const root = await fromTemplate('at2');
    const bad = await corrupt(root, kind);
    const update = await agent(root, 'update');
    expect(update.exitCode).toBe(0);
    expect(JSON.parse(update.stdout).extensions.hello).toMatchObject({ from: '2.0', to: '3.0' });
    await expectMovedAside(root, update.stderr, bad);
    const state = await readState(join(stateDirOf(root), 'state.json'));
    expect(state.extensions.hello).toMatchObject({ current: '3.0', previous: '2.0' });
    expect(state.manifest?.serial).toBe(3);
  });

  it('rebuilt: current is what the symlink points at, even below the newest stored', async () => {
    const root = await fromTemplate('rolled-back');
    const bad = await corrupt(root, 'truncated');
    const status = await agent(root, 'status');
    expect(status.exitCode).toBe(0);
    // The quarantine of 2.0 cannot be rebuilt from disk: that is what the warning says.
    expect(JSON.parse(status.stdout).extensions.hello).toMatchObject({
      current: '1.0',
      previous: null,
      installed: ['1.0', '2.0'],
    });
    await expectMovedAside(root, status.stderr, bad);
  });

  it('rollback and recover rebuild too', async () => {
    const root = await fromTemplate('at2');
    const bad = await corrupt(root, 'schema-invalid');
    const rollback = await agent(root, 'rollback');
    expect(rollback.exitCode).toBe(0);
    expect(JSON.parse(rollback.stdout).extensions.hello).toMatchObject({ from: '2.0', to: '1.0' });
    await expectMovedAside(root, rollback.stderr, bad);
    expect((await readState(join(stateDirOf(root), 'state.json'))).extensions.hello).toMatchObject({
      current: '1.0',
    });

    const other = await fromTemplate('at2');
    const bad2 = await corrupt(other, 'empty');
    const recover = await agent(other, 'recover');
    expect(recover.exitCode).toBe(0);
    await expectMovedAside(other, recover.stderr, bad2);
  });

  it('a corrupt state under an interrupted transaction: recovery rebuilds, then completes it', async () => {
    const root = await fromTemplate('at2');
    const crashed = await runCli(['--root', root, '--json', '--log-level', 'warn', 'update'], {
      SYSEXT_AGENT_TEST_CRASH_AT: 'commit',
    });
    expect(crashed.exitCode).not.toBe(0);
    const bad = await corrupt(root, 'truncated');
    const status = await agent(root, 'status');
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout).extensions.hello).toMatchObject({
      current: '3.0',
      previous: '2.0',
    });
    const aside = (await readdir(stateDirOf(root))).filter((f) =>
      f.startsWith('state.json.corrupt-'),
    );
    expect(aside).toHaveLength(1);
    expect(await readFile(join(stateDirOf(root), aside[0] as string))).toEqual(bad);
    expect((await readdir(stateDirOf(root))).includes('journal.json')).toBe(false);
  });
});
