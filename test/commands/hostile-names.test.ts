/**
 * Names and versions from disk and the command line (issue 11, class 1). A journal, a state or
 * an argument naming `../../victim`, "" or a version with `/` once made `recover` delete a
 * directory outside the agent's tree (or the whole store) and `rollback` create a file outside.
 * Now every name and version passes the rules where it is read: a hostile state or journal is
 * STATE_CORRUPT (exit 1), a bad argument USAGE (exit 2), and the whole sandbox (the `--root`
 * tree, the repository, a victim file and directory next to the tree) is byte-for-byte as it
 * was. The CLI runs as a user would, on a `--root` tree (nothing merged, no root needed).
 */
import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

/** From images/NAME up to the sandbox: images, sysext-agent, lib, var, the root. */
const OUT = '../../../../../victim';

describe('hostile names and versions from the journal, the state and the command line', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  let n = 0;
  const stateDir = (root: string) => join(root, 'var/lib/sysext-agent');
  const agent = (root: string, ...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);

  /** A copy of the template: hello 2.0 current, 1.0 previous, both stored. */
  async function fresh(): Promise<string> {
    const root = join(sb.dir, `root-${n++}`);
    await cp(join(sb.dir, 'template'), root, { recursive: true, verbatimSymlinks: true });
    return root;
  }

  /** Runs the CLI and asserts the code, the exit and that nothing in the sandbox changed. */
  async function refused(
    root: string,
    args: string[],
    code: string,
    exit: number,
  ): Promise<CliResult> {
    const before = await snapshot(sb.dir);
    const r = await agent(root, ...args);
    expect(r.exitCode, r.stderr).toBe(exit);
    expect(JSON.parse(r.stdout).error.code).toBe(code);
    expect(r.stderr).not.toContain('unexpected error');
    expect(await snapshot(sb.dir)).toEqual(before);
    return r;
  }

  const journal = (moves: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      schema: 1,
      command: 'remove',
      phase: 'commit',
      step: 'commit',
      moves,
      failures: {},
      sidecars: false,
      refresh: false,
      root: null,
      startedAt: '2026-11-26T12:00:00Z',
      ...extra,
    });

  const state = (extensions: Record<string, unknown>) =>
    JSON.stringify({ schema: 1, manifest: null, extensions });

  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await mkdir(join(sb.dir, 'victim'));
    await writeFile(join(sb.dir, 'victim/keep.txt'), 'the admin file\n');
    await writeFile(join(sb.dir, 'victim.txt'), 'the admin file\n');
    const etc = join(sb.dir, 'template/etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({ repositories: [server.url], extensions: { hello: {} } }),
    );
    for (const v of ['1.0', '2.0']) {
      await publishFixture(sb, v);
      const r = await agent(join(sb.dir, 'template'), 'update');
      expect(r.exitCode, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  describe('journal: STATE_CORRUPT, exit 1, nothing touched', () => {
    it.each([
      [
        'a name that climbs out of the store (remove, commit)',
        [{ name: OUT, kind: 'sysext', from: '1.0', to: null }],
      ],
      [
        'an empty name (would be the whole store)',
        [{ name: '', kind: 'sysext', from: '1.0', to: null }],
      ],
      ['a name with a slash', [{ name: 'hello/../..', kind: 'sysext', from: '1.0', to: null }]],
      [
        'a version that climbs out',
        [{ name: 'hello', kind: 'sysext', from: `${OUT}/x`, to: null }],
      ],
      [
        'a version with a slash',
        [{ name: 'hello', kind: 'sysext', from: '2.0', to: '1.0/../../x' }],
      ],
    ])('%s', async (_what, moves) => {
      const root = await fresh();
      await writeFile(join(stateDir(root), 'journal.json'), journal(moves));
      await refused(root, ['recover'], 'STATE_CORRUPT', 1);
      await refused(root, ['update'], 'STATE_CORRUPT', 1);
    });

    it('a step or a failure naming a path, a __proto__ key', async () => {
      const root = await fresh();
      const move = { name: 'hello', kind: 'sysext', from: '2.0', to: '1.0' };
      const file = join(stateDir(root), 'journal.json');
      for (const text of [
        journal([move], { step: `switch:${OUT}`, phase: 'forward', command: 'update' }),
        journal([move], { failures: { [OUT]: 'x' }, phase: 'back', command: 'update' }),
        journal([move], { phase: 'back' }).replace('"failures":{', '"failures":{"__proto__":"x"'),
      ]) {
        await writeFile(file, text);
        await refused(root, ['recover'], 'STATE_CORRUPT', 1);
      }
    });
  });

  describe('state: STATE_CORRUPT, exit 1, not moved aside or rebuilt, nothing touched', () => {
    const entry = { kind: 'sysext', current: '2.0', previous: '1.0' };
    it.each([
      ['an extension named after a path outside', { [OUT]: entry }],
      ['an empty extension name', { '': entry }],
      ['a previous version that climbs out', { hello: { ...entry, previous: `${OUT}/evil` } }],
      ['a current version with a slash', { hello: { ...entry, current: '2.0/../../..' } }],
      [
        'a quarantined version with a slash',
        { hello: { ...entry, quarantined: [{ version: '../x', reason: 'r', at: 't' }] } },
      ],
      ['an interruption count for a path', { hello: { ...entry, interrupted: { '../../x': 1 } } }],
    ])('%s', async (_what, extensions) => {
      const root = await fresh();
      await writeFile(join(stateDir(root), 'state.json'), state(extensions));
      await refused(root, ['rollback'], 'STATE_CORRUPT', 1);
      await refused(root, ['recover'], 'STATE_CORRUPT', 1);
      // status only reports: what the disk shows, the state file left as it is.
      const before = await snapshot(sb.dir);
      const status = await agent(root, 'status');
      expect(status.exitCode, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).extensions.hello).toMatchObject({ current: '2.0' });
      expect(await snapshot(sb.dir)).toEqual(before);
    });

    it('a __proto__ key among the extensions', async () => {
      const root = await fresh();
      const text = state({ hello: entry }).replace(
        '"extensions":{',
        '"extensions":{"__proto__":{"kind":"sysext","current":"1.0","previous":null},',
      );
      await writeFile(join(stateDir(root), 'state.json'), text);
      await refused(root, ['recover'], 'STATE_CORRUPT', 1);
    });
  });

  it('a manifest cache that is not exactly the agent’s shape is ignored: a full download', async () => {
    const root = await fresh();
    const file = join(stateDir(root), 'manifest-cache.json');
    const url = new URL('manifest.json', server.url).href;
    for (const doc of [
      { url, etag: '"x"\r\nX-Injected: 1', bytes: 'AAAA' },
      { url, etag: { not: 'a string' }, bytes: 'AAAA' },
      { url, lastModified: 7, bytes: ['AAAA'] },
      { url, bytes: 'not base64 !' },
    ]) {
      await writeFile(file, JSON.stringify(doc));
      const r = await agent(root, 'check');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ current: '2.0' });
    }
  });

  describe('command line: USAGE, exit 2, nothing touched', () => {
    it.each([
      ['remove', OUT],
      ['remove', ''],
      ['remove', 'hello/..'],
      ['rollback', OUT],
      ['rollback', '..'],
      ['unquarantine', OUT],
      ['unquarantine', 'hello', `${OUT}/x`],
      ['update', `${OUT}@1.0`],
      ['update', 'hello@../../x'],
      ['update', '@1.0'],
    ])('%s %j', async (...args) => {
      const root = await fresh();
      await refused(root, args, 'USAGE', 2);
    });
  });
});
