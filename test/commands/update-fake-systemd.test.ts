/**
 * The CLI is true to its exit code when systemd misbehaves after the switch (issue: a status
 * failure used to escape the transaction as MERGE_FAILED with 2.0 still linked). A fake
 * `systemd-sysext` and `losetup` first on PATH, `--root T --refresh`: no root needed.
 *   status fails once right after the switch  -> exit 3, back on 1.0, no journal, 2.0 quarantined
 *   status always fails                       -> exit 4, journal kept; recover completes it later
 */
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { installFakes, fakeHelloRoot } from '../helpers/fake-systemd.ts';
import { makeSandbox, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

describe('update with a systemd that fails after the switch (CLI, fake tools)', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  const root = () => join(sb.dir, 'root');
  const fakeDir = () => join(sb.dir, 'fake');
  const env = () => ({
    PATH: `${fakeDir()}:${process.env.PATH ?? ''}`,
    FAKE_DIR: fakeDir(),
    FAKE_ROOT: root(),
  });
  const agent = (...args: string[]) =>
    runCli(['--root', root(), '--refresh', '--json', '--log-level', 'silent', ...args], env());
  const link = async () => readlink(join(root(), 'var/lib/extensions/hello.raw'));
  const journal = () => join(root(), 'var/lib/sysext-agent/journal.json');
  const state = async () =>
    JSON.parse(await readFile(join(root(), 'var/lib/sysext-agent/state.json'), 'utf8')) as {
      extensions: Record<
        string,
        { current: string; quarantined: { version: string; reason: string }[] }
      >;
    };

  /** A fresh root with 1.0 installed (and proven through the fakes); 2.0 then published. */
  async function installed(): Promise<void> {
    await rm(root(), { recursive: true, force: true });
    await rm(sb.repo, { recursive: true, force: true });
    await mkdir(sb.repo);
    await fakeHelloRoot(root(), server.url, sb.keysDir);
    await publishFixture(sb, '1.0');
    const first = await agent('update');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(await link()).toContain('hello_1.0.raw');
    await publishFixture(sb, '2.0');
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await installFakes(fakeDir());
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('status fails once after the switch: exit 3, back on 1.0, no journal, 2.0 quarantined', async () => {
    await installed();
    await writeFile(join(fakeDir(), 'status-fail-once'), '');
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ result: 'failed', to: '2.0' });
    expect(await link()).toContain('hello_1.0.raw');
    expect(existsSync(journal())).toBe(false);
    const hello = (await state()).extensions.hello;
    expect(hello?.current).toBe('1.0');
    expect(hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
    expect(hello?.quarantined[0]?.reason).toContain('Connection refused');
  });

  it('status always fails: exit 4 and a journal that a later recover completes', async () => {
    await installed();
    await writeFile(join(fakeDir(), 'status-fail-always'), '');
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(4);
    expect(await link()).toContain('hello_1.0.raw');
    expect(JSON.parse(await readFile(journal(), 'utf8'))).toMatchObject({ phase: 'back' });
    // Still broken: recover says so (exit 4) and keeps the journal.
    const again = await agent('recover');
    expect(again.exitCode).toBe(4);
    expect(JSON.parse(again.stdout).error.code).toBe('ROLLBACK_FAILED');
    expect(existsSync(journal())).toBe(true);
    // systemd works again: recover completes the way back.
    await rm(join(fakeDir(), 'status-fail-always'));
    const rec = await agent('recover');
    expect(rec.exitCode, rec.stderr).toBe(0);
    expect(JSON.parse(rec.stdout)).toMatchObject({ recovered: true, outcome: 'rolled-back' });
    expect(existsSync(journal())).toBe(false);
    expect(await link()).toContain('hello_1.0.raw');
    expect((await state()).extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
  });
});
