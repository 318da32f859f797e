/**
 * Error codes no other test reaches, each through the CLI with the documented exit code and
 * the host left as it was: a manifest whose verity root hash does not match the image
 * (VERITY_MISMATCH), an extension named on the command line that the manifest lacks
 * (NOT_IN_MANIFEST), rollback without a previous version (NO_PREVIOUS), rollback of something
 * configured but not installed (NOT_INSTALLED), a journal the agent did not write (STATE_CORRUPT).
 * `--root` without refresh, committed fixture images: no root, no tools.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';
import { resignManifest } from '../helpers/repo-manifest.ts';

interface Payload {
  serial: number;
  extensions: Record<
    string,
    {
      versions: Record<
        string,
        { images: { verity: { rootHash: string }; release?: Record<string, string> }[] }
      >;
    }
  >;
}

describe('error codes through the CLI', () => {
  let sb: Sandbox;
  let root: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  let good: Buffer;
  const manifest = () => join(sb.repo, 'manifest.json');
  const agent = (...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);

  async function expectCode(args: string[], code: string, exit: number): Promise<void> {
    const before = await snapshot(root);
    const r = await agent(...args);
    expect(r.exitCode, r.stderr).toBe(exit);
    expect(JSON.parse(r.stdout).error.code).toBe(code);
    expect(await snapshot(root)).toEqual(before);
  }

  /** Re-signs the manifest with `edit` applied to its payload and the next serial. */
  const resign = (edit: (payload: Payload) => void): Promise<void> =>
    resignManifest(sb, good.toString(), manifest(), edit);

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    // The tree's own os-release is what images are judged against under --root.
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [server.url],
        trustedKeys: sb.keysDir,
        extensions: { hello: {}, other: {} },
      }),
    );
    // 1.0 installed (staged: --root without refresh), 2.0 published.
    await publishFixture(sb, '1.0');
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    await publishFixture(sb, '2.0');
    good = await readFile(manifest());
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });
  beforeEach(async () => {
    await writeFile(manifest(), good);
  });

  it('a verity root hash that does not match the image: VERITY_MISMATCH, exit 1', async () => {
    await resign((p) => {
      const v2 = p.extensions.hello?.versions['2.0']?.images[0];
      if (v2) v2.verity.rootHash = 'ab'.repeat(32);
    });
    await expectCode(['update'], 'VERITY_MISMATCH', 1);
  });

  it('NAME@VERSION of a version the manifest lacks: NOT_IN_MANIFEST', async () => {
    await expectCode(['update', 'hello@9.0'], 'NOT_IN_MANIFEST', 1);
  });

  it('an extension named on the command line that the manifest lacks: NOT_IN_MANIFEST', async () => {
    await expectCode(['update', 'other'], 'NOT_IN_MANIFEST', 1);
  });

  it('rollback with no previous version: NO_PREVIOUS; of nothing installed: NOT_INSTALLED', async () => {
    await expectCode(['rollback'], 'NO_PREVIOUS', 1);
    await expectCode(['rollback', 'hello'], 'NO_PREVIOUS', 1);
    await expectCode(['rollback', 'other'], 'NOT_INSTALLED', 1);
  });

  // Accepts a higher serial: later tests would meet SERIAL_ROLLBACK, so it runs last but one.
  it('NAME@VERSION of an image built for another OS: INCOMPATIBLE; update holds it back', async () => {
    await resign((p) => {
      const v2 = p.extensions.hello?.versions['2.0']?.images[0];
      if (v2) v2.release = { ID: 'fedora', VERSION_ID: '41' };
    });
    await expectCode(['update', 'hello@2.0'], 'INCOMPATIBLE', 1);
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    const hello = JSON.parse(r.stdout).extensions.hello;
    expect(hello).toMatchObject({ result: 'up-to-date', from: '1.0' });
    expect(hello.heldBack).toEqual([
      { version: '2.0', cause: 'incompatible', reason: expect.stringContaining('ID=fedora') },
    ]);
  });

  it('a journal the agent did not write: STATE_CORRUPT, exit 1, left for the operator', async () => {
    const journal = join(root, 'var/lib/sysext-agent/journal.json');
    await mkdir(join(root, 'var/lib/sysext-agent'), { recursive: true });
    await writeFile(journal, 'not json');
    await expectCode(['update'], 'STATE_CORRUPT', 1);
    await expectCode(['recover'], 'STATE_CORRUPT', 1);
    expect(await readFile(journal, 'utf8')).toBe('not json');
  });
});
