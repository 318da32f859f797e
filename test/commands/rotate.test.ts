/**
 * Key rotation and revocation end to end through the CLI (PRODUCT.md section 3.2): `--root`
 * hosts, a repository in a local directory (and the same repository through `serve` over HTTP,
 * where a 404 ends the walk). A host trusting k1 follows k1 -> k2 written by `rotate`, then
 * refuses a newer manifest signed by k1 alone and a keys document signed only by a key it does
 * not trust yet; broken keys documents are KEYS_INVALID; a key left out of keys/2.json no longer
 * counts toward the threshold; a changed trust store starts the walk again from it. Every refusal
 * is exit 1 with the host, trust.json and a victim file and directory next to it unchanged.
 */
import { execa } from 'execa';
import { copyFile, lstat, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS_PAYLOAD_TYPE, signEnvelope, type SigningKey } from '../../src/manifest/dsse.ts';
import {
  formatPublicKey,
  formatSecretKey,
  generateKeyPair,
  parseSecretKey,
} from '../../src/manifest/keys.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { PROJECT, runCli, type CliResult } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const skip = missing('unsquashfs');

const hex = (k: SigningKey): string => Buffer.from(k.publicKey).toString('hex');

describe.skipIf(skip)('key rotation through the CLI', () => {
  let sb: Sandbox;
  let root: string;
  let server: RunningServer;
  const pairs: Record<string, SigningKey> = {};
  const keyFile = (name: string): string => join(sb.dir, `${name}.key`);

  const agent = (host: string, ...args: string[]): Promise<CliResult> =>
    runCli(['--root', host, '--json', '--log-level', 'silent', ...args]);
  const cli = async (...args: string[]): Promise<CliResult> => {
    const r = await runCli(['--json', '--log-level', 'silent', ...args]);
    expect(r.exitCode, r.stderr).toBe(0);
    return r;
  };
  const resign = (...keys: string[]) =>
    cli('publish', '--repo', sb.repo, ...keys.flatMap((k) => ['--key', keyFile(k)]));
  const trustJson = async (): Promise<{ version: number; keys: string[]; origin: string }> =>
    JSON.parse(await readFile(join(root, 'var/lib/sysext-agent/trust.json'), 'utf8'));

  /** Everything a refused run must leave alone: the host, and a victim next to it. */
  const world = async () => ({
    host: await snapshot(root),
    victim: await snapshot(join(sb.dir, 'victim')),
  });

  async function refused(code: string, words: string[], host = root): Promise<void> {
    const before = await world();
    const r = await agent(host, 'update');
    expect(r.exitCode, r.stderr).toBe(1);
    const error = JSON.parse(r.stdout).error as { code: string; message: string };
    expect(error.code, error.message).toBe(code);
    for (const w of words) expect(error.message).toContain(w);
    expect(await world()).toEqual(before);
  }

  async function makeHost(name: string, repositories: string[]): Promise<string> {
    const host = join(sb.dir, name);
    await mkdir(join(host, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(host, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await writeFile(
      join(host, 'etc/sysext-agent/config.json'),
      JSON.stringify({ repositories, trustedKeys: sb.keysDir, extensions: { hello: {} } }),
    );
    return host;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    // The sandbox's own publisher key is k1: the host trusts it.
    pairs.k1 = parseSecretKey(await readFile(sb.key, 'utf8'), sb.key);
    await copyFile(sb.key, keyFile('k1'));
    for (const name of ['k2', 'k3', 'k4', 'kx']) {
      const pair = generateKeyPair();
      pairs[name] = pair;
      await writeFile(keyFile(name), formatSecretKey(pair), { mode: 0o600 });
      await writeFile(join(sb.dir, `${name}.pub`), formatPublicKey(pair));
    }
    await mkdir(join(sb.dir, 'victim/dir'), { recursive: true });
    await writeFile(join(sb.dir, 'victim/file'), 'precious\n');
    const image = join(sb.images, 'hello_1.0.raw');
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), image);
    await cli('publish', '--repo', sb.repo, '--key', keyFile('k1'), image);
    root = await makeHost('host', [sb.repo]);
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('installs from the trust store (version 0): no keys/ yet, no trust.json', async () => {
    const r = await agent(root, 'update');
    expect(r.exitCode, r.stderr).toBe(0);
    await expect(trustJson()).rejects.toThrow(/ENOENT/);
  });

  it('rotate writes keys/1.json and re-signs; the host follows k1 -> k2', async () => {
    const r = await cli(
      'rotate',
      '--repo',
      sb.repo,
      '--key',
      keyFile('k1'),
      '--new-key',
      keyFile('k2'),
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ version: 1, threshold: 1, serial: 2 });
    const u = await agent(root, 'update');
    expect(u.exitCode, u.stderr).toBe(0);
    expect(JSON.parse(u.stdout).manifest).toMatchObject({ serial: 2 });
    expect(await trustJson()).toMatchObject({ version: 1, keys: [hex(pairs.k2!)] });
    // Nothing new: the poll writes nothing more.
    const before = await world();
    expect((await agent(root, 'update')).exitCode).toBe(0);
    expect(await world()).toEqual(before);
  });

  it('the same walk over HTTP (serve): a 404 for keys/2.json ends it', async () => {
    const host = await makeHost('http-host', [server.url.replace(/\/?$/, '/')]);
    const r = await agent(host, 'check');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).manifest).toMatchObject({ serial: 2 });
    const record = JSON.parse(
      await readFile(join(host, 'var/lib/sysext-agent/trust.json'), 'utf8'),
    ) as { version: number };
    expect(record.version).toBe(1);
  });

  it('refuses a newer manifest signed by k1 alone: UNTRUSTED, host unchanged', async () => {
    await resign('k1');
    await refused('UNTRUSTED', ['keys/1.json', 'key rotation']);
    await resign('k2');
  });

  it('refuses a keys document signed only by a key it does not trust yet', async () => {
    // rotate itself refuses to write it: k3 is not in keys/1.json.
    const before = await snapshot(sb.repo);
    const r = await runCli([
      '--json',
      'rotate',
      '--repo',
      sb.repo,
      '--key',
      keyFile('k3'),
      '--new-key',
      keyFile('k3'),
    ]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('THRESHOLD');
    expect(await snapshot(sb.repo)).toEqual(before);
    await writeKeysDocument(2, { keys: [hex(pairs.k3!)], threshold: 1 }, ['k3']);
    try {
      await refused('UNTRUSTED', ['keys/2.json', 'not signed by any trusted key']);
    } finally {
      await rm(join(sb.repo, 'keys/2.json'));
    }
  });

  async function writeKeysDocument(
    n: number,
    payload: Record<string, unknown>,
    signers: string[],
    raw?: string,
  ): Promise<void> {
    const body = Buffer.from(raw ?? JSON.stringify({ schema: 1, version: n, ...payload }));
    const env = signEnvelope(
      body,
      signers.map((s) => pairs[s]!),
      KEYS_PAYLOAD_TYPE,
    );
    await writeFile(join(sb.repo, `keys/${n}.json`), JSON.stringify(env));
  }

  it.each([
    [
      'a version that is not its number',
      { version: 7, keys: ['K3'], threshold: 1 },
      ['k2', 'k3'],
      'version 7',
    ],
    ['a threshold above its keys', { keys: ['K3'], threshold: 2 }, ['k2', 'k3'], 'threshold 2'],
    ['a threshold of 0', { keys: ['K3'], threshold: 0 }, ['k2', 'k3'], 'threshold'],
    ['a key that is not 64 hex', { keys: ['abc'], threshold: 1 }, ['k2'], 'keys.0'],
    ['a key listed twice', { keys: ['K3', 'K3'], threshold: 1 }, ['k2', 'k3'], 'twice'],
    ['new keys that did not sign it', { keys: ['K3'], threshold: 1 }, ['k2'], 'its own new keys'],
    ['a payload that is not JSON', null, ['k2'], 'not valid JSON'],
  ])(
    'a broken keys/2.json (%s): KEYS_INVALID, host unchanged',
    async (_, payload, signers, word) => {
      const fill = (p: Record<string, unknown>) => ({
        ...p,
        keys: (p.keys as string[]).map((k) => (k === 'K3' ? hex(pairs.k3!) : k)),
      });
      await writeKeysDocument(
        2,
        payload ? fill(payload) : {},
        signers,
        payload ? undefined : '{"schema":',
      );
      try {
        await refused('KEYS_INVALID', ['keys/2.json', word]);
      } finally {
        await rm(join(sb.repo, 'keys/2.json'));
      }
    },
  );

  it('a revoked key (left out of keys/2.json) no longer counts toward the threshold', async () => {
    await cli(
      'rotate',
      '--repo',
      sb.repo,
      '--key',
      keyFile('k2'),
      '--new-key',
      keyFile('k3'),
      '--new-key',
      keyFile('k4'),
      '--threshold',
      '2',
    );
    expect((await agent(root, 'update')).exitCode).toBe(0);
    expect(await trustJson()).toMatchObject({ version: 2, threshold: 2 });
    // k2 (revoked) + k3: one valid signature of the 2 required.
    await resign('k2', 'k3');
    await refused('THRESHOLD', ['1 valid signature', 'threshold is 2']);
    await resign('k3', 'k4');
    expect((await agent(root, 'update')).exitCode).toBe(0);
  });

  it('a changed trust store starts the walk again from it', async () => {
    const first = await trustJson();
    // Another key added to the trust store: the walk restarts from {k1, kx} and still reaches 2.
    await copyFile(join(sb.dir, 'kx.pub'), join(sb.keysDir, 'kx.pub'));
    const r = await agent(root, 'update');
    expect(r.exitCode, r.stderr).toBe(0);
    const second = await trustJson();
    expect(second).toMatchObject({ version: 2 });
    expect(second.origin).not.toBe(first.origin);
    // A trust store of kx alone cannot follow keys/1.json (signed by k1 and k2): refused.
    await rm(join(sb.keysDir, 'publisher.pub'));
    await refused('UNTRUSTED', ['keys/1.json']);
  });

  it.each(['directory', 'symlink', 'garbage'])(
    'a %s at trust.json: STATE_CORRUPT naming it, no hang, host unchanged',
    async (what) => {
      const file = join(root, 'var/lib/sysext-agent/trust.json');
      const saved = await readFile(file);
      await rm(file);
      try {
        if (what === 'directory') await mkdir(join(file, 'sub'), { recursive: true });
        if (what === 'symlink') await symlink(join(sb.dir, 'victim/file'), file);
        if (what === 'garbage') await writeFile(file, '{"schema": 1, "version": "x"}');
        await refused('STATE_CORRUPT', ['trust.json']);
      } finally {
        await rm(file, { recursive: true, force: true });
        await writeFile(file, saved);
      }
    },
  );
  it('a FIFO at trust.json: STATE_CORRUPT at once (never a read that blocks), host unchanged', async () => {
    const file = join(root, 'var/lib/sysext-agent/trust.json');
    const saved = await readFile(file);
    await rm(file);
    await execa('mkfifo', [file]);
    // snapshot() would block reading the FIFO itself: compare everything else.
    const rest = async () => ({
      etc: await snapshot(join(root, 'etc')),
      images: await snapshot(join(root, 'var/lib/sysext-agent/images')),
      state: await readFile(join(root, 'var/lib/sysext-agent/state.json'), 'utf8'),
      victim: await snapshot(join(sb.dir, 'victim')),
    });
    try {
      const before = await rest();
      const r = await agent(root, 'update');
      expect(r.exitCode, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({
        code: 'STATE_CORRUPT',
        message: expect.stringContaining('trust.json'),
      });
      expect(await rest()).toEqual(before);
      expect((await lstat(file)).isFIFO()).toBe(true);
    } finally {
      await rm(file, { force: true });
      await writeFile(file, saved);
    }
  }, 60_000);
});
