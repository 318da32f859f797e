/**
 * Fork detection (TUF; issue 11 class 5): a manifest with the serial already accepted must carry
 * the payload accepted. Through the CLI (`--root` without refresh, committed fixture images, a
 * second trusted key): the same payload with an extra signature is accepted; another payload
 * with the same serial is FORK, exit 1, host (and a victim next to it) unchanged, also once the
 * manifest cache is deleted (the digest is kept in state.json) and for a state written before
 * the digest (the cached copy stands in); the publisher's fix, a new serial, is accepted.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope, type SigningKey } from '../../src/manifest/dsse.ts';
import { formatPublicKey, generateKeyPair, parseSecretKey } from '../../src/manifest/keys.ts';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

interface StateDoc {
  manifest: { serial: number; payloadSha256?: string };
  extensions: Record<string, { current: string | null }>;
}

describe('fork: the accepted serial with other content', () => {
  let sb: Sandbox;
  let root: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  let publisher: SigningKey;
  const cosigner = generateKeyPair();
  let good: Buffer;
  let payload: Buffer;
  const manifest = () => join(sb.repo, 'manifest.json');
  const stateFile = () => join(root, 'var/lib/sysext-agent/state.json');
  const cacheFile = () => join(root, 'var/lib/sysext-agent/manifest-cache.json');
  const victim = () => join(sb.dir, 'victim');
  const agent = async (...args: string[]) => {
    const r = await runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);
    return {
      ...r,
      doc: JSON.parse(r.stdout) as {
        error: { code: string; message: string };
        extensions: Record<string, unknown>;
      },
    };
  };
  const state = async () => JSON.parse(await readFile(stateFile(), 'utf8')) as StateDoc;

  async function serve(body: Buffer, keys: SigningKey[]): Promise<void> {
    await writeFile(manifest(), JSON.stringify(signEnvelope(body, keys)));
  }

  /** The accepted payload with one field changed, still serial 1 and validly signed. */
  function forked(): Buffer {
    const doc = JSON.parse(payload.toString()) as Record<string, unknown>;
    doc['note'] = 'the same serial, other content';
    return Buffer.from(JSON.stringify(doc));
  }

  async function expectFork(...args: string[]): Promise<void> {
    const before = { root: await snapshot(root), victim: await snapshot(victim()) };
    const r = await agent(...args);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.doc.error.code).toBe('FORK');
    expect(r.doc.error.message).toContain('serial 1');
    expect(await snapshot(root)).toEqual(before.root);
    expect(await snapshot(victim())).toEqual(before.victim);
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    root = join(sb.dir, 'root');
    publisher = parseSecretKey(await readFile(sb.key, 'utf8'), sb.key);
    await writeFile(join(sb.keysDir, 'cosigner.pub'), formatPublicKey(cosigner));
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await mkdir(victim());
    await writeFile(join(victim(), 'precious'), 'an admin file next to the agent tree\n');
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [server.url],
        trustedKeys: sb.keysDir,
        extensions: { hello: {} },
      }),
    );
    await publishFixture(sb, '1.0');
    good = await readFile(manifest());
    payload = Buffer.from((JSON.parse(good.toString()) as { payload: string }).payload, 'base64');
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await state()).manifest.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('the same payload with an extra signature (a co-signer): accepted, nothing to do', async () => {
    const digest = (await state()).manifest.payloadSha256;
    await serve(payload, [publisher, cosigner]);
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.doc.extensions.hello).toMatchObject({ result: 'up-to-date', from: '1.0' });
    expect((await state()).manifest).toMatchObject({ serial: 1, payloadSha256: digest });
    expect((await agent('check')).exitCode).toBe(0);
  });

  it('the same serial with another payload: FORK, exit 1, host unchanged (update and check)', async () => {
    await serve(forked(), [publisher]);
    await expectFork('update');
    await expectFork('check');
  });

  it('a state written before the digest: the cached copy stands in, still FORK', async () => {
    const saved = await readFile(stateFile(), 'utf8');
    const doc = JSON.parse(saved) as StateDoc;
    delete doc.manifest.payloadSha256;
    await writeFile(stateFile(), JSON.stringify(doc, null, 2) + '\n');
    try {
      await serve(forked(), [publisher]);
      await expectFork('update');
    } finally {
      await writeFile(stateFile(), saved);
    }
  });

  it('the manifest cache deleted: still FORK, against the digest in state.json', async () => {
    await rm(cacheFile(), { force: true });
    await serve(forked(), [publisher, cosigner]);
    await expectFork('update');
  });

  it("the publisher's fix, a new serial, is accepted", async () => {
    await writeFile(manifest(), good);
    const pub = await runCli(['publish', '--repo', sb.repo, '--key', sb.key]);
    expect(pub.exitCode, pub.stderr).toBe(0);
    const r = await agent('update');
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await state()).manifest.serial).toBe(2);
  });
});
