// DSSE envelopes (secure-systems-lab/dsse protocol.md, envelope.md) and the threshold rule of
// PRODUCT.md promise 5: a threshold counts distinct trusted keys, each once.
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  PAYLOAD_TYPE,
  pae,
  parseEnvelope,
  signEnvelope,
  verifyEnvelope,
} from '../../src/manifest/dsse.ts';
import type { Envelope, SigningKey } from '../../src/manifest/dsse.ts';
import { keyIdOf } from '../../src/manifest/keys.ts';
import { codeOf } from '../helpers/errors.ts';

function keyFromSeed(byte: number): SigningKey {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(byte));
  return { secretKey: pair.secretKey, publicKey: pair.publicKey };
}

const alice = keyFromSeed(1);
const bob = keyFromSeed(2);
const mallory = keyFromSeed(3);

function trust(...keys: SigningKey[]): Map<string, Uint8Array> {
  return new Map(keys.map((k) => [keyIdOf(k.publicKey), k.publicKey]));
}

const PAYLOAD = Buffer.from('{"schema":1,"serial":7,"note":"h\u00e9llo"}', 'utf8');

function envelopeBytes(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

describe('pae', () => {
  it('matches the example of the DSSE protocol', () => {
    const out = pae('http://example.com/HelloWorld', Buffer.from('hello world'));
    expect(out.toString('utf8')).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('counts lengths in bytes, not characters', () => {
    // "t/é" is 3 characters and 4 bytes; "ü€" is 2 characters and 5 bytes.
    const out = pae('t/\u00e9', Buffer.from('\u00fc\u20ac', 'utf8'));
    expect(out.toString('utf8')).toBe('DSSEv1 4 t/\u00e9 5 \u00fc\u20ac');
  });

  it('keeps binary body bytes unchanged and handles an empty body', () => {
    const body = new Uint8Array([0x00, 0xff, 0x80, 0x0a]);
    const out = pae('x', body);
    expect([...out.subarray(out.length - 4)]).toEqual([0x00, 0xff, 0x80, 0x0a]);
    expect(out.subarray(0, out.length - 4).toString('latin1')).toBe('DSSEv1 1 x 4 ');
    expect(pae('x', new Uint8Array()).toString('utf8')).toBe('DSSEv1 1 x 0 ');
  });
});

describe('signEnvelope / verifyEnvelope', () => {
  it('round-trips: the payload comes back byte for byte with the signer key id', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    expect(env.payloadType).toBe(PAYLOAD_TYPE);
    expect(env.signatures).toHaveLength(1);
    expect(env.signatures[0]?.keyid).toBe(keyIdOf(alice.publicKey));
    const parsed = parseEnvelope(envelopeBytes(env));
    const { payload, validKeyIds } = verifyEnvelope(parsed, trust(alice), 1);
    expect(payload.equals(PAYLOAD)).toBe(true);
    expect(validKeyIds).toEqual([keyIdOf(alice.publicKey)]);
  });

  it('signs the PAE, not the raw payload', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const sig = Buffer.from(env.signatures[0]?.sig ?? '', 'base64');
    expect(nacl.sign.detached.verify(pae(PAYLOAD_TYPE, PAYLOAD), sig, alice.publicKey)).toBe(true);
    expect(nacl.sign.detached.verify(PAYLOAD, sig, alice.publicKey)).toBe(false);
  });

  it('a flipped payload byte gives SIGNATURE', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const tampered = Buffer.from(PAYLOAD);
    tampered[3] = (tampered[3] ?? 0) ^ 0x01;
    const bad: Envelope = { ...env, payload: tampered.toString('base64') };
    expect(codeOf(() => verifyEnvelope(bad, trust(alice), 1))).toBe('SIGNATURE');
  });

  it('a flipped signature byte gives SIGNATURE', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const sig = Buffer.from(env.signatures[0]?.sig ?? '', 'base64');
    sig[10] = (sig[10] ?? 0) ^ 0x80;
    const bad: Envelope = {
      ...env,
      signatures: [{ keyid: keyIdOf(alice.publicKey), sig: sig.toString('base64') }],
    };
    expect(codeOf(() => verifyEnvelope(bad, trust(alice), 1))).toBe('SIGNATURE');
  });

  it('binds the payload type: the same signature under another type fails', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const other: Envelope = { ...env, payloadType: 'application/vnd.other+json' };
    expect(codeOf(() => verifyEnvelope(other, trust(alice), 1))).toBe('SIGNATURE');
  });

  it('a signature by an untrusted key gives UNTRUSTED', () => {
    const env = signEnvelope(PAYLOAD, [mallory]);
    expect(codeOf(() => verifyEnvelope(env, trust(alice, bob), 1))).toBe('UNTRUSTED');
  });

  it('an untrusted signature claiming a trusted key id does not count', () => {
    const env = signEnvelope(PAYLOAD, [mallory]);
    const forged: Envelope = {
      ...env,
      signatures: [{ keyid: keyIdOf(alice.publicKey), sig: env.signatures[0]?.sig ?? '' }],
    };
    expect(codeOf(() => verifyEnvelope(forged, trust(alice), 1))).toBe('SIGNATURE');
  });

  it('no signatures at all gives UNTRUSTED', () => {
    const env: Envelope = { ...signEnvelope(PAYLOAD, []), signatures: [] };
    expect(codeOf(() => verifyEnvelope(env, trust(alice), 1))).toBe('UNTRUSTED');
  });

  it('threshold 2: one key signing twice counts once', () => {
    const env = signEnvelope(PAYLOAD, [alice, alice]);
    expect(env.signatures).toHaveLength(2);
    expect(codeOf(() => verifyEnvelope(env, trust(alice, bob), 2))).toBe('THRESHOLD');
  });

  it('threshold 2: a duplicate with an upper-case key id still counts once', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const first = env.signatures[0];
    if (!first) throw new Error('no signature');
    const dup: Envelope = {
      ...env,
      signatures: [first, { keyid: first.keyid.toUpperCase(), sig: first.sig }],
    };
    expect(codeOf(() => verifyEnvelope(dup, trust(alice, bob), 2))).toBe('THRESHOLD');
    // The upper-case key id alone is accepted for the same key (threshold 1).
    const upperOnly: Envelope = {
      ...env,
      signatures: [{ keyid: first.keyid.toUpperCase(), sig: first.sig }],
    };
    expect(verifyEnvelope(upperOnly, trust(alice), 1).validKeyIds).toEqual([first.keyid]);
  });

  it('threshold 2: one trusted and one untrusted signer is not enough', () => {
    const env = signEnvelope(PAYLOAD, [alice, mallory]);
    expect(codeOf(() => verifyEnvelope(env, trust(alice, bob), 2))).toBe('THRESHOLD');
  });

  it('threshold 2 with two distinct trusted keys passes', () => {
    const env = signEnvelope(PAYLOAD, [alice, mallory, bob]);
    const { payload, validKeyIds } = verifyEnvelope(env, trust(alice, bob), 2);
    expect(payload.equals(PAYLOAD)).toBe(true);
    expect([...validKeyIds].sort()).toEqual(
      [keyIdOf(alice.publicKey), keyIdOf(bob.publicKey)].sort(),
    );
  });

  it('a valid signature after a broken one by the same key still counts', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    const good = env.signatures[0];
    if (!good) throw new Error('no signature');
    const broken = { keyid: good.keyid, sig: Buffer.alloc(64).toString('base64') };
    const mixed: Envelope = { ...env, signatures: [broken, good] };
    expect(verifyEnvelope(mixed, trust(alice), 1).validKeyIds).toEqual([good.keyid]);
  });

  it('non-base64 payload gives MANIFEST_FORMAT', () => {
    const env = signEnvelope(PAYLOAD, [alice]);
    for (const payload of ['not base64!', 'abc', 'YWJj\n', 'YW*j']) {
      expect(codeOf(() => verifyEnvelope({ ...env, payload }, trust(alice), 1))).toBe(
        'MANIFEST_FORMAT',
      );
    }
  });
});

describe('parseEnvelope', () => {
  const valid = signEnvelope(PAYLOAD, [alice]);

  it('accepts a well-formed envelope and ignores unknown fields', () => {
    const env = parseEnvelope(envelopeBytes({ ...valid, extra: { a: 1 } }));
    expect(env).toEqual(valid);
  });

  it.each([
    ['not JSON', Buffer.from('{"payloadType":')],
    ['an array', envelopeBytes([valid])],
    ['null', envelopeBytes(null)],
    [
      'missing payloadType',
      envelopeBytes({ payload: valid.payload, signatures: valid.signatures }),
    ],
    ['wrong payloadType', envelopeBytes({ ...valid, payloadType: 'application/json' })],
    ['missing payload', envelopeBytes({ payloadType: PAYLOAD_TYPE, signatures: valid.signatures })],
    ['numeric payload', envelopeBytes({ ...valid, payload: 42 })],
    ['missing signatures', envelopeBytes({ payloadType: PAYLOAD_TYPE, payload: valid.payload })],
    ['signatures not a list', envelopeBytes({ ...valid, signatures: valid.signatures[0] })],
  ])('%s gives MANIFEST_FORMAT', (_label, bytes) => {
    expect(codeOf(() => parseEnvelope(bytes))).toBe('MANIFEST_FORMAT');
  });

  it('ignores a malformed signature entry among valid ones', () => {
    const good = valid.signatures[0];
    if (!good) throw new Error('no signature');
    const doc = {
      ...valid,
      signatures: [
        null,
        'junk',
        42,
        { keyid: good.keyid },
        { keyid: 7, sig: good.sig },
        { sig: 17 },
        { keyid: good.keyid, sig: 'not base64!' },
        good,
      ],
    };
    const env = parseEnvelope(envelopeBytes(doc));
    const { payload, validKeyIds } = verifyEnvelope(env, trust(alice), 1);
    expect(payload.equals(PAYLOAD)).toBe(true);
    expect(validKeyIds).toEqual([good.keyid]);
  });

  it('only malformed signature entries give UNTRUSTED, not a valid manifest', () => {
    const doc = { ...valid, signatures: [null, { keyid: 'ab' }] };
    const env = parseEnvelope(envelopeBytes(doc));
    expect(codeOf(() => verifyEnvelope(env, trust(alice), 1))).toBe('UNTRUSTED');
  });
});
