/**
 * Acceptance: bad input (tampered payload, untrusted signer, expired or rolled-back manifest,
 * tampered image, bad configuration) gives the documented exit code, names the cause, and leaves
 * the host byte-for-byte as it was. Runs the CLI with --root on a throwaway tree (no merge).
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatSecretKey, generateKeyPair } from '../../src/manifest/keys.ts';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const skip = missing('mksquashfs');

describe.skipIf(skip)('refusing bad input', () => {
  let sb: Sandbox;
  let root: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  let goodManifest: Buffer;
  let v2: string;

  const agent = (...args: string[]) =>
    runCli(['--root', root, '--json', '--log-level', 'warn', ...args]);
  const manifestPath = () => join(sb.repo, 'manifest.json');

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    const etc = join(root, 'etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({ repositories: [server.url], extensions: { hello: {} } }),
    );
    const [v1, second] = await buildImages(sb.images, ['1.0', '2.0']);
    v2 = second as string;
    expect(
      (await runCli(['publish', '--repo', sb.repo, '--key', sb.key, v1 as string])).exitCode,
    ).toBe(0);
    const installed = await agent('update');
    expect(installed.exitCode).toBe(0);
    expect(JSON.parse(installed.stdout).extensions.hello.result).toBe('staged');
    expect((await runCli(['publish', '--repo', sb.repo, '--key', sb.key, v2])).exitCode).toBe(0);
    goodManifest = await readFile(manifestPath());
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });
  beforeEach(async () => {
    await writeFile(manifestPath(), goodManifest);
  });

  async function expectRefused(code: string, exitCode = 1): Promise<void> {
    const before = await snapshot(root);
    const result = await agent('update');
    expect(result.exitCode).toBe(exitCode);
    expect(JSON.parse(result.stdout).error.code).toBe(code);
    expect(result.stderr).toMatch(/sysext-agent: .+/);
    expect(await snapshot(root)).toEqual(before);
  }

  function payloadOf(manifest: Buffer): Record<string, unknown> {
    return JSON.parse(Buffer.from(JSON.parse(manifest.toString()).payload, 'base64').toString());
  }

  it('a tampered payload is refused: SIGNATURE, exit 1, host unchanged', async () => {
    const env = JSON.parse(goodManifest.toString());
    const payload = payloadOf(goodManifest);
    payload.serial = 999;
    env.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    await writeFile(manifestPath(), JSON.stringify(env));
    await expectRefused('SIGNATURE');
  });

  it('a manifest signed only by an untrusted key is refused: UNTRUSTED', async () => {
    const stranger = join(sb.dir, 'stranger.key');
    await writeFile(stranger, formatSecretKey(generateKeyPair()), { mode: 0o600 });
    const payloadFile = join(sb.dir, 'payload.json');
    await writeFile(payloadFile, JSON.stringify(payloadOf(goodManifest)));
    const signed = await runCli([
      'sign',
      '--key',
      stranger,
      '--output',
      manifestPath(),
      payloadFile,
    ]);
    expect(signed.exitCode).toBe(0);
    await expectRefused('UNTRUSTED');
  });

  it('an expired manifest is refused: EXPIRED', async () => {
    const payload = payloadOf(goodManifest);
    payload.serial = 50;
    payload.expires = '2020-01-01T00:00:00Z';
    const payloadFile = join(sb.dir, 'expired.json');
    await writeFile(payloadFile, JSON.stringify(payload));
    expect(
      (await runCli(['sign', '--key', sb.key, '--output', manifestPath(), payloadFile])).exitCode,
    ).toBe(0);
    await expectRefused('EXPIRED');
  });

  it('an image whose bytes differ from the manifest is refused: HASH_MISMATCH', async () => {
    const image = join(sb.repo, 'hello/hello_2.0.raw');
    const good = await readFile(image);
    const bad = Buffer.from(good);
    bad[100] = (bad[100] ?? 0) ^ 0xff;
    await writeFile(image, bad);
    try {
      await expectRefused('HASH_MISMATCH');
    } finally {
      await writeFile(image, good);
    }
  });

  it('a configuration error is exit 2 and names the field', async () => {
    const before = await snapshot(root);
    const bad = join(sb.dir, 'bad-config.json');
    await writeFile(bad, JSON.stringify({ repositories: [server.url], extensions: {}, keep: 1 }));
    const result = await runCli(['--root', root, '--config', bad, '--json', 'update']);
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout).error.code).toBe('CONFIG');
    expect(result.stderr).toContain('keep');
    expect(await snapshot(root)).toEqual(before);
  });

  it('after the good v2 is accepted, an older serial is refused: SERIAL_ROLLBACK', async () => {
    const ok = await agent('update');
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout).extensions.hello).toMatchObject({ from: '1.0', to: '2.0' });
    const payload = payloadOf(goodManifest);
    payload.serial = 1;
    const payloadFile = join(sb.dir, 'old.json');
    await writeFile(payloadFile, JSON.stringify(payload));
    expect(
      (await runCli(['sign', '--key', sb.key, '--output', manifestPath(), payloadFile])).exitCode,
    ).toBe(0);
    await expectRefused('SERIAL_ROLLBACK');
  });
});
