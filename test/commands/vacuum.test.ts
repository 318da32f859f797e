/**
 * `vacuum` (PRODUCT.md section 5): stored versions beyond `keep` go, never current or previous;
 * partial downloads that can no longer be wanted go (not newer than current, or of an extension
 * not configured), while a partial of a newer version stays to be resumed. --root, no merge.
 */
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { readState } from '../../src/store/state.ts';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

describe.skipIf(missing('mksquashfs'))('vacuum', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  let n = 0;

  const agent = (root: string, ...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'warn', ...args]);
  const stateDirOf = (root: string) => join(root, 'var/lib/sysext-agent');
  const storeOf = (root: string) => join(stateDirOf(root), 'images/hello');

  async function writeConfig(root: string, keep: number): Promise<void> {
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({ repositories: [server.url], extensions: { hello: {}, world: {} }, keep }),
    );
  }

  /** A copy of the tree with 1.0..4.0 stored (4.0 current, 3.0 previous), configured with `keep`. */
  async function allFour(keep: number): Promise<string> {
    const root = join(sb.dir, `root-${n++}`);
    await cp(join(sb.dir, 'all4'), root, { recursive: true, verbatimSymlinks: true });
    await writeConfig(root, keep);
    return root;
  }

  /** Versions in the store, each with its image, hash tree and root hash file. */
  async function stored(root: string): Promise<string[]> {
    const files = (await readdir(storeOf(root))).sort();
    const versions = files
      .filter((f) => f.endsWith('.raw'))
      .map((f) => f.slice('hello_'.length, -'.raw'.length));
    expect(files).toEqual(
      versions.flatMap((v) => [`hello_${v}.raw`, `hello_${v}.roothash`, `hello_${v}.verity`]),
    );
    return versions;
  }

  async function activeTarget(root: string): Promise<string> {
    return readlink(join(root, 'var/lib/extensions/hello.raw'));
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    await buildImages(sb.images, ['1.0', '2.0', '3.0', '4.0']);
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    const root = join(sb.dir, 'all4');
    const etc = join(root, 'etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    // Installed through updates with a large keep, so that every version stays in the store.
    await writeConfig(root, 10);
    for (const v of ['1.0', '2.0', '3.0', '4.0']) {
      const image = join(sb.images, `hello_${v}.raw`);
      expect((await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image])).exitCode).toBe(
        0,
      );
      const update = await agent(root, 'update');
      expect(update.exitCode, update.stderr).toBe(0);
    }
    expect(await stored(root)).toEqual(['1.0', '2.0', '3.0', '4.0']);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('keep 2: deletes all but current and previous; a second run deletes nothing', async () => {
    const root = await allFour(2);
    const link = await activeTarget(root);
    const stateBefore = await readFile(join(stateDirOf(root), 'state.json'), 'utf8');
    const r = await agent(root, 'vacuum');
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.deleted).toEqual(
      expect.arrayContaining([
        { name: 'hello', version: '1.0' },
        { name: 'hello', version: '2.0' },
      ]),
    );
    expect(report.deleted).toHaveLength(2);
    expect(await stored(root)).toEqual(['3.0', '4.0']);
    expect(await activeTarget(root)).toBe(link);
    expect(await readFile(join(stateDirOf(root), 'state.json'), 'utf8')).toBe(stateBefore);

    const again = await agent(root, 'vacuum');
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ deleted: [], partialsDeleted: [] });
    const status = JSON.parse((await agent(root, 'status')).stdout);
    expect(status.extensions.hello).toMatchObject({
      current: '4.0',
      previous: '3.0',
      installed: ['3.0', '4.0'],
    });
  });

  it('after a rollback, keep 2 never deletes the new current or previous', async () => {
    const root = await allFour(2);
    const rollback = await agent(root, 'rollback');
    expect(rollback.exitCode).toBe(0);
    const state = await readState(join(stateDirOf(root), 'state.json'));
    // 4.0 is quarantined; previous is the newest good version below 3.0.
    expect(state.extensions.hello).toMatchObject({ current: '3.0', previous: '2.0' });

    const r = await agent(root, 'vacuum');
    expect(r.exitCode).toBe(0);
    expect(
      (JSON.parse(r.stdout).deleted as { version: string }[]).map((d) => d.version).sort(),
    ).toEqual(['1.0', '4.0']);
    expect(await stored(root)).toEqual(['2.0', '3.0']);
    expect(await activeTarget(root)).toBe('../sysext-agent/images/hello/hello_3.0.raw');
    // What was kept is usable: rolling back once more reaches 2.0.
    const again = await agent(root, 'rollback');
    expect(again.exitCode).toBe(0);
    expect(await activeTarget(root)).toBe('../sysext-agent/images/hello/hello_2.0.raw');
  });

  it('keep 3 after a rollback: current and previous count towards keep', async () => {
    const root = await allFour(3);
    expect((await agent(root, 'rollback')).exitCode).toBe(0);
    const r = await agent(root, 'vacuum');
    expect(r.exitCode).toBe(0);
    // Pinned 3.0 and 2.0, room for one more: the newest other one (4.0) stays.
    expect(JSON.parse(r.stdout).deleted).toEqual([{ name: 'hello', version: '1.0' }]);
    expect(await stored(root)).toEqual(['2.0', '3.0', '4.0']);
  });

  it('removes partial downloads not newer than current or of unconfigured extensions', async () => {
    const root = await allFour(2);
    const partial = join(stateDirOf(root), 'partial');
    await mkdir(partial, { recursive: true });
    const doomed = [
      'hello_2.0.raw.part', // older than current 4.0
      'hello_2.0.raw.part.meta',
      'hello_4.0.raw.part', // the current version itself
      'other_9.0.raw.part', // not configured on this host
      'other_9.0.raw.part.meta',
    ];
    const kept = [
      'hello_5.0.raw.part', // newer than current: to be resumed
      'hello_5.0.raw.part.meta',
      'world_1.0.raw.part', // configured, not installed: any version is newer
    ];
    for (const f of [...doomed, ...kept]) await writeFile(join(partial, f), 'x'.repeat(100));
    const r = await agent(root, 'vacuum');
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    expect([...report.partialsDeleted].sort()).toEqual([...doomed].sort());
    expect((await readdir(partial)).sort()).toEqual([...kept].sort());
    for (const f of doomed) expect(existsSync(join(partial, f))).toBe(false);
  });
});
