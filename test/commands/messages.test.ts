/**
 * Messages that name the cause and the fix, and consistent exit codes (issue 10), through the
 * real CLI: a run without the right to write (PERMISSION, exit 1, no stack trace), one-line
 * usage errors with a hint, an unknown extension name (USAGE, exit 2, for every command),
 * `remove` of something already gone (exit 0 and a note), a missing trust store under --root,
 * a wrong key, a mistyped configuration key. `--root` without refresh and a local directory as
 * the repository: no network, no systemd.
 */
import { execa } from 'execa';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPublicKey, generateKeyPair, keyIdOf } from '../../src/manifest/keys.ts';
import { CLI, PROJECT, runCli } from '../helpers/cli.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

/** The user the unprivileged runs use when the tests run as root (nobody on Debian). */
const NOBODY = 65534;

describe('messages and exit codes through the CLI', () => {
  let sb: Sandbox;
  let root: string;
  const agent = (...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);
  const errorOf = (stdout: string): { code: string; message: string } =>
    (JSON.parse(stdout) as { error: { code: string; message: string } }).error;

  async function writeConfig(dir: string, config: Record<string, unknown>): Promise<void> {
    await mkdir(join(dir, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(dir, 'etc/sysext-agent/config.json'), JSON.stringify(config));
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    // Readable (not writable) by the unprivileged user of the first test.
    await chmod(sb.dir, 0o755);
    root = join(sb.dir, 'root');
    await writeConfig(root, {
      repositories: [sb.repo],
      trustedKeys: sb.keysDir,
      extensions: { hello: {}, other: {} },
    });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    const image = join(sb.images, 'hello_1.0.raw');
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), image);
    const pub = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image]);
    expect(pub.exitCode, pub.stderr).toBe(0);
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await chmod(join(root, 'var/lib/sysext-agent'), 0o755).catch(() => undefined);
    await sb?.cleanup();
  });

  it('a run that may not write the state: PERMISSION, exit 1, the path and the fix, no stack', async () => {
    const stateDir = join(root, 'var/lib/sysext-agent');
    // As root: run as nobody. As another user: the owner cannot write a 0555 directory either.
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) await chmod(stateDir, 0o555);
    const before = await snapshot(root);
    const r = await execa(
      process.execPath,
      [CLI, '--root', root, '--json', '--log-level', 'silent', 'update'],
      { reject: false, stdin: 'ignore', ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}) },
    );
    if (!asRoot) await chmod(stateDir, 0o755);
    expect(r.exitCode, r.stderr).toBe(1);
    const error = errorOf(r.stdout);
    expect(error.code).toBe('PERMISSION');
    expect(error.message).toContain(stateDir);
    expect(error.message).toMatch(/run it as root|owner and mode/);
    expect(error.message).toContain('--root DIR');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await snapshot(root)).toEqual(before);
  });

  it('a usage error is one line and a hint, not the whole help', async () => {
    const option = await runCli(['status', '--no-such-flag']);
    expect(option.exitCode).toBe(2);
    expect(option.stderr.trim().split('\n')).toEqual([
      "sysext-agent: error: unknown option '--no-such-flag'",
      "Try 'sysext-agent status --help'",
    ]);
    const command = await runCli(['frobnicate']);
    expect(command.exitCode).toBe(2);
    expect(command.stderr).toContain("Try 'sysext-agent --help'");
    expect(command.stderr).not.toContain('Usage:');
    const missing = await runCli(['remove']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(2);
    const json = await runCli(['--json', 'update', '--bogus']);
    expect(json.exitCode).toBe(2);
    expect(errorOf(json.stdout).code).toBe('USAGE');
  });

  it.each([['update'], ['rollback'], ['remove']])(
    '%s of an unknown extension: USAGE, exit 2, the names known',
    async (command) => {
      const before = await snapshot(root);
      const r = await agent(command, 'nosuch');
      expect(r.exitCode, r.stderr).toBe(2);
      const error = errorOf(r.stdout);
      expect(error.code).toBe('USAGE');
      expect(error.message).toContain('"nosuch"');
      expect(error.message).toContain('hello, other');
      expect(await snapshot(root)).toEqual(before);
    },
  );

  it('a near miss is suggested', async () => {
    const r = await agent('rollback', 'helo');
    expect(r.exitCode).toBe(2);
    expect(errorOf(r.stdout).message).toContain('did you mean "hello"?');
  });

  it('remove of something configured but already gone: exit 0 and a note', async () => {
    const before = await snapshot(root);
    const json = await agent('remove', 'other');
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      exitCode: 0,
      extensions: {
        other: { result: 'skipped', message: expect.stringContaining('nothing to remove') },
      },
    });
    const human = await runCli(['--root', root, '--log-level', 'silent', 'remove', 'other']);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('other: skipped: not installed: nothing to remove');
    expect(await snapshot(root)).toEqual(before);
  });

  it('with --root, a missing trust store is named by its path under the root', async () => {
    const bare = join(sb.dir, 'bare');
    await writeConfig(bare, {
      repositories: [sb.repo],
      trustedKeys: '/nonexistent/sysext-agent-test/keys',
      extensions: { hello: {} },
    });
    const r = await runCli(['--root', bare, '--json', '--log-level', 'silent', 'check']);
    expect(r.exitCode, r.stderr).toBe(2);
    const error = errorOf(r.stdout);
    expect(error.code).toBe('CONFIG');
    expect(error.message).toContain(`trust store ${bare}/nonexistent/sysext-agent-test/keys`);
  });

  it('a wrong key: the signer, the trusted keys, their directory and the ignored .pem', async () => {
    const wrong = join(sb.dir, 'wrong');
    const keys = join(sb.dir, 'wrong-keys');
    await mkdir(keys, { recursive: true });
    const stranger = generateKeyPair();
    await writeFile(join(keys, 'stranger.pub'), formatPublicKey(stranger));
    await writeFile(join(keys, 'publisher.pem'), '-----BEGIN PUBLIC KEY-----\nAAAA\n');
    await writeConfig(wrong, { repositories: [sb.repo], trustedKeys: keys, extensions: {} });
    const r = await runCli(['--root', wrong, '--json', '--log-level', 'silent', 'check']);
    expect(r.exitCode, r.stderr).toBe(1);
    const error = errorOf(r.stdout);
    expect(error.code).toBe('UNTRUSTED');
    expect(error.message).toContain(`trusted: ${keyIdOf(stranger.publicKey)}`);
    expect(error.message).toMatch(/signed by [0-9a-f]{64}/);
    expect(error.message).toContain(`trusted keys read from ${keys}`);
    expect(error.message).toContain('publisher.pem');
  });

  it('a mistyped configuration key is named, with the one it probably means (exit 2)', async () => {
    const file = join(sb.dir, 'typo.json');
    await writeFile(file, JSON.stringify({ repositories: [sb.repo], extentions: { hello: {} } }));
    const r = await runCli(['--config', file, '--root', root, '--json', 'check']);
    expect(r.exitCode).toBe(2);
    const error = errorOf(r.stdout);
    expect(error.code).toBe('CONFIG');
    expect(error.message).toContain('unknown field "extentions" (did you mean "extensions"?)');
    expect(error.message).toContain('missing required field "extensions"');
  });
});
