/**
 * A kind change (issue 11 class 6): hello is installed as a sysext (merged and proven through
 * the fake systemd-sysext of test/helpers/fake-systemd.ts, `--root T --refresh`, no root
 * needed), then the manifest publishes it, with a new version, as a confext. Switching in place
 * would leave both activation entries merged; `update` refuses with KIND_CHANGED, exit 1,
 * naming the extension, both kinds and the fix, and leaves the host (and a victim next to it)
 * byte for byte as it was. The fix it names, `remove hello` then `update`, moves it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { installFakes, fakeHelloRoot } from '../helpers/fake-systemd.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';
import { resignManifest } from '../helpers/repo-manifest.ts';

interface Payload {
  serial: number;
  extensions: Record<string, { kind: string }>;
}

describe('kind change: an installed sysext the manifest now calls a confext', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  const root = () => join(sb.dir, 'root');
  const fakeDir = () => join(sb.dir, 'fake');
  const victim = () => join(sb.dir, 'victim');
  const manifest = () => join(sb.repo, 'manifest.json');
  const env = () => ({
    PATH: `${fakeDir()}:${process.env.PATH ?? ''}`,
    FAKE_DIR: fakeDir(),
    FAKE_ROOT: root(),
  });
  const agent = async (...args: string[]) => {
    const r = await runCli(['--root', root(), '--json', '--log-level', 'silent', ...args], env());
    return { ...r, doc: JSON.parse(r.stdout) as { error?: { code: string; message: string } } };
  };
  const sysextLink = () => join(root(), 'var/lib/extensions/hello.raw');
  const confextLink = () => join(root(), 'var/lib/confexts/hello.raw');

  /** Re-signs the repository's manifest with hello as a confext, at the next serial. */
  const publishAsConfext = async (): Promise<void> =>
    resignManifest<Payload>(sb, await readFile(manifest(), 'utf8'), manifest(), (payload) => {
      for (const ext of Object.values(payload.extensions)) ext.kind = 'confext';
    });

  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await installFakes(fakeDir());
    await fakeHelloRoot(root(), server.url, sb.keysDir);
    await mkdir(victim());
    await writeFile(join(victim(), 'precious'), 'an admin file next to the agent tree\n');
    await publishFixture(sb, '1.0');
    const first = await agent('--refresh', 'update');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(existsSync(sysextLink())).toBe(true);
    await publishFixture(sb, '2.0');
    await publishAsConfext();
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('update refuses: KIND_CHANGED, exit 1, names both kinds and the fix; host unchanged', async () => {
    const before = { root: await snapshot(root()), victim: await snapshot(victim()) };
    const r = await agent('--refresh', 'update');
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.doc.error?.code).toBe('KIND_CHANGED');
    expect(r.doc.error?.message).toMatch(/hello.*sysext.*confext/);
    expect(r.doc.error?.message).toContain('remove hello');
    expect(await snapshot(root())).toEqual(before.root);
    expect(await snapshot(victim())).toEqual(before.victim);
    expect(existsSync(confextLink())).toBe(false);
  });

  it('the fix it names: remove hello, then update installs it as a confext only', async () => {
    const removed = await agent('--refresh', 'remove', 'hello');
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(existsSync(sysextLink())).toBe(false);
    // This fake systemd has no systemd-confext: stage only (merged at the next refresh).
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(confextLink())).toBe(true);
    expect(existsSync(sysextLink())).toBe(false);
  });
});
