// Key rotation, the pure side (PRODUCT.md section 3.2): both thresholds, revocation by
// omission, where a walk starts (a changed trust store restarts it), trust.json validation.
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { KEYS_PAYLOAD_TYPE, signEnvelope, type SigningKey } from '../../src/manifest/dsse.ts';
import { keyIdOf } from '../../src/manifest/keys.ts';
import {
  acceptKeysDocument,
  fingerprintOf,
  parseTrustRecord,
  sameAsRecord,
  serializeTrustRecord,
  startOfWalk,
  type KeySet,
} from '../../src/manifest/rotation.ts';
import { codeOf } from '../helpers/errors.ts';

const pair = (seed: number): SigningKey => {
  const p = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(seed));
  return { secretKey: p.secretKey, publicKey: p.publicKey };
};
const [k1, k2, k3, k4] = [1, 2, 3, 4].map(pair) as [SigningKey, SigningKey, SigningKey, SigningKey];
const hex = (k: SigningKey) => Buffer.from(k.publicKey).toString('hex');
const set = (version: number, threshold: number, ...keys: SigningKey[]): KeySet => ({
  version,
  threshold,
  keys: new Map(keys.map((k) => [keyIdOf(k.publicKey), k.publicKey])),
});

function doc(payload: Record<string, unknown>, signers: SigningKey[], type = KEYS_PAYLOAD_TYPE) {
  const body = Buffer.from(JSON.stringify({ schema: 1, version: 1, ...payload }));
  return Buffer.from(JSON.stringify(signEnvelope(body, signers, type)));
}

describe('acceptKeysDocument', () => {
  const v0 = set(0, 1, k1);

  it('accepts a set signed by the keys trusted now and by its own threshold', () => {
    const next = acceptKeysDocument(
      doc({ keys: [hex(k2), hex(k3)], threshold: 2 }, [k1, k2, k3]),
      v0,
      'keys/1.json',
    );
    expect(next).toMatchObject({ version: 1, threshold: 2 });
    expect([...next.keys.keys()].sort()).toEqual(
      [keyIdOf(k2.publicKey), keyIdOf(k3.publicKey)].sort(),
    );
  });

  it('refuses one signed only by keys not trusted yet (UNTRUSTED)', () => {
    const bytes = doc({ keys: [hex(k2)], threshold: 1 }, [k2]);
    expect(codeOf(() => acceptKeysDocument(bytes, v0, 'keys/1.json'))).toBe('UNTRUSTED');
  });

  it('refuses one below the current threshold (THRESHOLD)', () => {
    const bytes = doc({ keys: [hex(k3)], threshold: 1 }, [k1, k3]);
    expect(codeOf(() => acceptKeysDocument(bytes, set(0, 2, k1, k2), 'keys/1.json'))).toBe(
      'THRESHOLD',
    );
  });

  it('refuses one its own new keys did not sign to their threshold (KEYS_INVALID)', () => {
    const bytes = doc({ keys: [hex(k2), hex(k3)], threshold: 2 }, [k1, k2]);
    expect(codeOf(() => acceptKeysDocument(bytes, v0, 'keys/1.json'))).toBe('KEYS_INVALID');
  });

  it('a revoked key no longer counts: keys/2.json over keys/1.json ignores k1', () => {
    const v1 = acceptKeysDocument(doc({ keys: [hex(k2)], threshold: 1 }, [k1, k2]), v0, 'k/1');
    const body = Buffer.from(
      JSON.stringify({ schema: 1, version: 2, keys: [hex(k3)], threshold: 1 }),
    );
    const byRevoked = Buffer.from(JSON.stringify(signEnvelope(body, [k1, k3], KEYS_PAYLOAD_TYPE)));
    expect(codeOf(() => acceptKeysDocument(byRevoked, v1, 'keys/2.json'))).toBe('UNTRUSTED');
  });

  it.each([
    [
      'a manifest envelope replayed as a keys document',
      'application/vnd.sysext-agent.manifest+json',
      {},
    ],
    ['a version other than N', KEYS_PAYLOAD_TYPE, { version: 2 }],
    ['schema 2', KEYS_PAYLOAD_TYPE, { schema: 2 }],
    ['no keys', KEYS_PAYLOAD_TYPE, { keys: [] }],
    ['a key of 31 bytes', KEYS_PAYLOAD_TYPE, { keys: ['ab'.repeat(31)] }],
    ['a key twice', KEYS_PAYLOAD_TYPE, { keys: [hex(k2), hex(k2).toUpperCase()], threshold: 1 }],
    ['threshold 0', KEYS_PAYLOAD_TYPE, { threshold: 0 }],
    ['threshold above the keys', KEYS_PAYLOAD_TYPE, { threshold: 2 }],
    ['threshold 1.5', KEYS_PAYLOAD_TYPE, { threshold: 1.5 }],
  ])('refuses %s (KEYS_INVALID)', (_, type, change) => {
    const bytes = doc({ keys: [hex(k2)], threshold: 1, ...change }, [k1, k2], type);
    expect(codeOf(() => acceptKeysDocument(bytes, v0, 'keys/1.json'))).toBe('KEYS_INVALID');
  });
});

describe('where the walk starts', () => {
  const store = set(0, 1, k1);
  const record = { origin: fingerprintOf(store), set: set(3, 1, k4) };

  it('resumes from trust.json when it grew from this trust store', () => {
    expect(startOfWalk(store, record)).toEqual({ set: record.set, restarted: false });
  });

  it('restarts from the trust store when its keys or threshold changed', () => {
    expect(startOfWalk(set(0, 1, k1, k2), record)).toMatchObject({
      set: { version: 0 },
      restarted: true,
    });
    expect(fingerprintOf(set(0, 2, k1, k2))).not.toBe(fingerprintOf(set(0, 1, k1, k2)));
    expect(startOfWalk(store, null)).toMatchObject({ set: { version: 0 }, restarted: false });
  });

  it('writes trust.json only when the accepted set differs from it', () => {
    expect(sameAsRecord(store, record.origin, null)).toBe(true);
    expect(sameAsRecord(record.set, record.origin, record)).toBe(true);
    expect(sameAsRecord(set(4, 1, k2), record.origin, record)).toBe(false);
  });

  it('trust.json round-trips; a corrupt one is STATE_CORRUPT naming the file', () => {
    const text = serializeTrustRecord(record);
    expect(parseTrustRecord(text, '/t.json')).toEqual(record);
    for (const bad of [
      '',
      '{',
      '[]',
      text.replace('"version": 3', '"version": -1'),
      text.replace('"threshold": 1', '"threshold": 2'),
      text.replace(hex(k4), 'zz'.repeat(32)),
    ]) {
      expect(codeOf(() => parseTrustRecord(bad, '/t.json'))).toBe('STATE_CORRUPT');
    }
  });
});
