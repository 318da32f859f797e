/** The publisher-side commands through the real CLI: keygen, sign, publish, verity, --help. */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, parsePublicKey } from '../../src/manifest/keys.ts';
import { verifyManifest } from '../../src/manifest/trust.ts';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';

const COMMANDS = [
  'check',
  'update',
  'status',
  'keygen',
  'sign',
  'publish',
  'rollout',
  'rotate',
  'verity',
  'serve',
];

describe('sysext-agent CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(COMMANDS)('%s --help exits 0 and describes the command', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`sysext-agent ${cmd}`);
  });

  it('publish and rollout --help show their options, the layout and examples', async () => {
    const publish = (await runCli(['publish', '--help'])).stdout;
    for (const text of ['--rollout <percent>', '--kind <kind>', 'NAME/VARIANT/NAME_VERSION.raw']) {
      expect(publish).toContain(text);
    }
    const rollout = (await runCli(['rollout', '--help'])).stdout;
    expect(rollout).toContain('sysext-agent rollout [options] <name> <version> <percent>');
    expect(rollout).toContain('--expires <duration>');
  });

  it('an unknown command or option is a usage error (exit 2)', async () => {
    expect((await runCli(['frobnicate'])).exitCode).toBe(2);
    expect((await runCli(['status', '--no-such-flag'])).exitCode).toBe(2);
    expect((await runCli(['--log-level', 'loud', 'status'])).exitCode).toBe(2);
  });

  it('keygen writes a 0600 private key and prints the id of the public key', async () => {
    const prefix = join(dir, 'k');
    const r = await runCli(['keygen', '--output', prefix]);
    expect(r.exitCode).toBe(0);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    const pub = parsePublicKey(await readFile(`${prefix}.pub`, 'utf8'), 'pub');
    expect(r.stdout.trim()).toBe(createHash('sha256').update(pub).digest('hex'));
    const again = await runCli(['--json', 'keygen', '--output', prefix]);
    expect(again.exitCode).toBe(2);
    expect(JSON.parse(again.stdout).error.code).toBe('USAGE');
  });

  it('sign wraps a payload byte for byte with every --key, counted once each', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await runCli(['keygen', '--output', a]);
    await runCli(['keygen', '--output', b]);
    const payload = join(dir, 'payload.json');
    const text =
      '{"schema":1,"serial":3,"issued":"2026-01-01T00:00:00Z","expires":"2999-01-01T00:00:00Z","extensions":{}}';
    await writeFile(payload, text);
    const out = join(dir, 'manifest.json');
    const r = await runCli([
      'sign',
      '--key',
      `${a}.key`,
      '--key',
      `${b}.key`,
      '--key',
      `${a}.key`,
      '--output',
      out,
      payload,
    ]);
    expect(r.exitCode).toBe(0);
    const env = JSON.parse(await readFile(out, 'utf8'));
    expect(Buffer.from(env.payload, 'base64').toString()).toBe(text);
    expect(env.signatures).toHaveLength(2);
    const keys = new Map<string, Uint8Array>();
    for (const p of [a, b]) {
      const k = parsePublicKey(await readFile(`${p}.pub`, 'utf8'), p);
      keys.set(keyIdOf(k), k);
    }
    const trusted = verifyManifest(await readFile(out), {
      trustedKeys: keys,
      threshold: 2,
      lastSerial: null,
      now: new Date(),
    });
    expect(trusted.payload.serial).toBe(3);
  });

  it('publish refuses an image whose size is not a multiple of 4096, naming the cause', async () => {
    const key = join(dir, 'pubkey');
    await runCli(['keygen', '--output', key]);
    const image = join(dir, 'odd_1.0.raw');
    await writeFile(image, Buffer.alloc(4097, 1));
    const repo = join(dir, 'repo-odd');
    const r = await runCli(['--json', 'publish', '--repo', repo, '--key', `${key}.key`, image]);
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('BAD_IMAGE');
    expect(r.stderr).toContain('4096');
    const badName = join(dir, 'no-version.raw');
    await writeFile(badName, Buffer.alloc(4096));
    expect(
      (await runCli(['publish', '--repo', repo, '--key', `${key}.key`, badName])).exitCode,
    ).toBe(2);
  });

  describe.skipIf(missing('veritysetup'))('verity against veritysetup', () => {
    it.each([
      ['random salt', 'a1b2c3d4e5f60718293a4b5c6d7e8f90', 37],
      ['empty salt', '-', 1],
      ['one-byte salt', 'ff', 300],
    ])('%s: same root hash and byte-identical hash file', async (_label, salt, blocks) => {
      const image = join(dir, `img-${blocks}.raw`);
      await writeFile(
        image,
        Buffer.from(Array.from({ length: blocks * 4096 }, (_, i) => (i * 7 + blocks) & 0xff)),
      );
      const uuid = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
      const ours = await runCli([
        'verity',
        image,
        '--salt',
        salt,
        '--uuid',
        uuid,
        '--hash-file',
        `${image}.ours`,
      ]);
      expect(ours.exitCode).toBe(0);
      const ref = await execa('veritysetup', [
        'format',
        `--salt=${salt}`,
        `--uuid=${uuid}`,
        image,
        `${image}.ref`,
      ]);
      const rootHash = /Root hash:\s+([0-9a-f]{64})/.exec(ref.stdout)?.[1];
      expect(ours.stdout.trim()).toBe(rootHash);
      expect(Buffer.compare(await readFile(`${image}.ours`), await readFile(`${image}.ref`))).toBe(
        0,
      );
    });
  });

  it('the committed signed fixture repository is what publish produces for the fixture images', async () => {
    const env = JSON.parse(await readFile(join(PROJECT, 'fixtures/repo/manifest.json'), 'utf8'));
    const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString());
    const fixture = await readFile(join(PROJECT, 'fixtures/images/hello_2.0.raw'));
    expect(payload.extensions.hello.versions['2.0'].sha256).toBe(
      createHash('sha256').update(fixture).digest('hex'),
    );
  });
});
