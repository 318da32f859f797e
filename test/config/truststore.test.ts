/**
 * The trust store (PRODUCT.md section 2): every *.pub of a directory. A key in a file not named
 * *.pub is not trusted but named in a warning and in the errors; with --root, a missing store
 * is named by its path under the root.
 */
import { createPublicKey } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { loadTrustedKeys, loadTrustStore } from '../../src/config/truststore.ts';
import {
  formatPublicKey,
  formatSecretKey,
  generateKeyPair,
  keyIdOf,
} from '../../src/manifest/keys.ts';

/** SPKI PEM of a raw ed25519 public key, as `openssl pkey -pubout` writes it. */
function pemOf(publicKey: Uint8Array): string {
  const x = Buffer.from(publicKey).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

function recorder() {
  const lines: { obj: object; msg: string }[] = [];
  return { lines, warn: (obj: object, msg: string) => void lines.push({ obj, msg }) };
}

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('trust store', () => {
  let dir = '';
  const good = generateKeyPair();
  const other = generateKeyPair();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-truststore-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads every *.pub; a .pem public key is not trusted but named once, with the fix', async () => {
    const keys = join(dir, 'mixed');
    await mkdir(keys);
    await writeFile(join(keys, 'release.pub'), formatPublicKey(good));
    await writeFile(join(keys, 'fleet.pem'), pemOf(other.publicKey));
    await writeFile(join(keys, 'README'), 'the keys of our publisher\n');
    const log = recorder();
    const store = await loadTrustedKeys(keys, log);
    expect([...store.keys.keys()]).toEqual([keyIdOf(good.publicKey)]);
    expect(store.source).toBe(keys);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]?.obj).toEqual({ file: join(keys, 'fleet.pem') });
    expect(log.lines[0]?.msg).toContain('fleet.pem is an ed25519 public key but not named *.pub');
    expect(log.lines[0]?.msg).toContain('rename it to fleet.pub');
    expect(store.ignored).toHaveLength(1);
  });

  it('a private key in the store is named as one; a store of only ignored files is CONFIG', async () => {
    const keys = join(dir, 'private');
    await mkdir(keys);
    await writeFile(join(keys, 'publisher.key'), formatSecretKey(good));
    await writeFile(join(keys, 'fleet.pem'), pemOf(other.publicKey));
    const log = recorder();
    const err = await failure(loadTrustedKeys(keys, log));
    expect(err.code).toBe('CONFIG');
    expect(err.message).toContain(`trust store ${keys}: no *.pub key found`);
    expect(err.message).toContain('publisher.key holds a private key');
    expect(err.message).toContain('rename it to fleet.pub');
    expect(log.lines.map((l) => l.msg).join('\n')).toContain('publisher.key');
  });

  it('a *.pub that is not a key is BAD_KEY, naming the file', async () => {
    const keys = join(dir, 'bad');
    await mkdir(keys);
    await writeFile(join(keys, 'broken.pub'), 'ssh-rsa AAAAB3NzaC1yc2E= someone\n');
    const err = await failure(loadTrustedKeys(keys));
    expect(err.code).toBe('BAD_KEY');
    expect(err.message).toContain(join(keys, 'broken.pub'));
  });

  describe('with --root', () => {
    it('a store missing under the root and outside it is named by its path under the root', async () => {
      const root = join(dir, 'root-missing');
      await mkdir(root);
      const configured = join(dir, 'nowhere/keys');
      const err = await failure(loadTrustStore(hostPaths(root), configured));
      expect(err.code).toBe('CONFIG');
      expect(err.message).toContain(`trust store ${join(root, configured)} not found`);
      expect(err.message).toContain('--root');
    });

    it('the default store missing under the root: the root path, not the host path', async () => {
      const root = join(dir, 'root-default');
      await mkdir(root);
      const err = await failure(loadTrustStore(hostPaths(root), '/nonexistent/sysext-agent/keys'));
      expect(err.message).toMatch(
        new RegExp(`^trust store ${root}/nonexistent/sysext-agent/keys not found`),
      );
    });

    it('the store under the root is read first; the path as given is the fallback', async () => {
      const root = join(dir, 'root-both');
      const outside = join(dir, 'outside');
      await mkdir(join(root, outside), { recursive: true });
      await mkdir(outside, { recursive: true });
      await writeFile(join(root, outside, 'a.pub'), formatPublicKey(good));
      await writeFile(join(outside, 'b.pub'), formatPublicKey(other));
      const inRoot = await loadTrustStore(hostPaths(root), outside);
      expect(inRoot.source).toBe(join(root, outside));
      expect([...inRoot.keys.keys()]).toEqual([keyIdOf(good.publicKey)]);
      const fallback = await loadTrustStore(hostPaths(join(dir, 'root-missing')), outside);
      expect(fallback.source).toBe(outside);
      expect([...fallback.keys.keys()]).toEqual([keyIdOf(other.publicKey)]);
    });

    it('without --root, a missing store names its path and the fix', async () => {
      const err = await failure(loadTrustStore(hostPaths('/'), join(dir, 'absent')));
      expect(err.code).toBe('CONFIG');
      expect(err.message).toContain(`trust store ${join(dir, 'absent')}: not found`);
      expect(err.message).toContain('trustedKeys');
    });
  });
});
