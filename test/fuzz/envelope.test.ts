/**
 * Fuzzing the envelope and payload verifier (issue 11, PRODUCT.md promise 5): arbitrary bytes,
 * valid manifests and keys documents mutated at the object level (signatures duplicated,
 * dropped, re-keyed, upper-cased, bit-flipped, signed by untrusted keys or over other bytes;
 * fields replaced by arbitrary JSON) and at the text level. Never a crash, never an uncoded
 * error, and never acceptance of anything the threshold of distinct trusted keys did not sign:
 * each accepted case is checked again by an independent verifier (tweetnacl's ed25519, not the
 * product's node:crypto; memoized, as it is slow). 10,000 cases per property per run.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import {
  KEYS_PAYLOAD_TYPE,
  pae,
  PAYLOAD_TYPE,
  signEnvelope,
  type SigningKey,
} from '../../src/manifest/dsse.ts';
import { keyIdOf } from '../../src/manifest/keys.ts';
import { acceptKeysDocument, type KeySet } from '../../src/manifest/rotation.ts';
import { verifyManifest, type TrustPolicy } from '../../src/manifest/trust.ts';

const RUNS = { numRuns: 10_000 };

const pair = (seed: number): SigningKey => {
  const p = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(seed));
  return { secretKey: p.secretKey, publicKey: p.publicKey };
};
const [k1, k2, k3, k4, k5] = [1, 2, 3, 4, 5].map(pair) as [
  SigningKey,
  SigningKey,
  SigningKey,
  SigningKey,
  SigningKey,
];
const ALL = [k1, k2, k3, k4, k5];
const idOf = (k: SigningKey) => keyIdOf(k.publicKey);
const mapOf = (...keys: SigningKey[]) => new Map(keys.map((k) => [idOf(k), k.publicKey]));

/** The verifier's possible refusals: anything else (or a TypeError) is a bug. */
const CODES = new Set([
  'MANIFEST_FORMAT',
  'SIGNATURE',
  'THRESHOLD',
  'UNTRUSTED',
  'EXPIRED',
  'SERIAL_ROLLBACK',
  'KEYS_INVALID',
]);

const MANIFEST = Buffer.from(
  JSON.stringify({
    schema: 1,
    serial: 5,
    issued: '2026-01-01T00:00:00Z',
    expires: '2099-01-01T00:00:00Z',
    extensions: {},
  }),
);
const POLICY: TrustPolicy = {
  trustedKeys: mapOf(k1, k2, k3),
  threshold: 2,
  lastSerial: null,
  now: new Date('2026-06-01T00:00:00Z'),
};

/** Independent check: distinct trusted keys whose signature over PAE verifies (tweetnacl). */
const byId = new Map(ALL.map((k) => [idOf(k), k.publicKey]));
const memo = new Map<string, boolean>();
function naclVerify(message: Buffer, sig: Buffer, key: Uint8Array): boolean {
  const at = createHash('sha256').update(message).update(sig).update(key).digest('hex');
  let ok = memo.get(at);
  if (ok === undefined) {
    ok = sig.length === 64 && nacl.sign.detached.verify(message, sig, key);
    memo.set(at, ok);
  }
  return ok;
}
const STRICT_B64 = /^[A-Za-z0-9+/]*={0,2}$/;
function independentCount(
  text: string,
  payloadType: string,
  trusted: ReadonlyMap<string, Uint8Array>,
): number {
  const env = JSON.parse(text) as { payload: string; signatures: unknown[] };
  const body = Buffer.from(env.payload, 'base64');
  const message = pae(payloadType, body);
  const valid = new Set<string>();
  for (const s of env.signatures) {
    if (typeof s !== 'object' || s === null) continue;
    const { keyid, sig } = s as { keyid?: unknown; sig?: unknown };
    if (typeof keyid !== 'string' || typeof sig !== 'string') continue;
    const id = keyid.toLowerCase();
    const key = byId.get(id);
    if (!trusted.has(id) || !key || !STRICT_B64.test(sig) || sig.length % 4 !== 0) continue;
    const bytes = Buffer.from(sig, 'base64');
    if (naclVerify(message, bytes, key)) valid.add(id);
  }
  return valid.size;
}

type Op =
  | { op: 'dup' | 'drop' | 'upper' | 'flipSig'; i: number; at?: number }
  | { op: 'rekey'; i: number; key: number }
  | { op: 'extra'; key: number; other: boolean }
  | { op: 'flipPayload'; at: number }
  | { op: 'setField'; field: string; value: unknown }
  | { op: 'setSigField'; i: number; field: string; value: unknown };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom('dup' as const, 'drop' as const, 'upper' as const),
    i: fc.nat(5),
  }),
  fc.record({ op: fc.constant('flipSig' as const), i: fc.nat(5), at: fc.nat(63) }),
  fc.record({ op: fc.constant('rekey' as const), i: fc.nat(5), key: fc.nat(4) }),
  fc.record({ op: fc.constant('extra' as const), key: fc.nat(4), other: fc.boolean() }),
  fc.record({ op: fc.constant('flipPayload' as const), at: fc.nat(200) }),
  fc.record({
    op: fc.constant('setField' as const),
    field: fc.constantFrom('payloadType', 'payload', 'signatures', '__proto__', 'extra'),
    value: fc.jsonValue({ maxDepth: 2 }),
  }),
  fc.record({
    op: fc.constant('setSigField' as const),
    i: fc.nat(5),
    field: fc.constantFrom('keyid', 'sig', '__proto__'),
    value: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constant('')),
  }),
);

interface Env {
  payloadType: unknown;
  payload: unknown;
  signatures: unknown;
  [k: string]: unknown;
}

/** Signing is slow (tweetnacl): each extra signature is made once per base document. */
const signed = new Map<string, unknown>();
function extraSignature(base: Env, type: string, key: number, other: boolean): unknown {
  const at = `${type} ${String(base.payload)} ${key} ${other}`;
  if (!signed.has(at)) {
    const body = Buffer.from(base.payload as string, 'base64');
    const bytes = other ? Buffer.concat([body, Buffer.from(' ')]) : body;
    signed.set(at, signEnvelope(bytes, [ALL[key] as SigningKey], type).signatures[0]);
  }
  return JSON.parse(JSON.stringify(signed.get(at)));
}

/** Applies `ops` to a copy of `base`; `type` is what signatures are made over. */
function apply(base: Env, ops: readonly Op[], type: string): string {
  const env = JSON.parse(JSON.stringify(base)) as Env;
  const sigs = () => (Array.isArray(env.signatures) ? (env.signatures as unknown[]) : null);
  const body = () =>
    typeof env.payload === 'string' ? Buffer.from(env.payload, 'base64') : Buffer.alloc(0);
  for (const o of ops) {
    const list = sigs();
    const at = (i: number) => (list && list.length > 0 ? i % list.length : -1);
    switch (o.op) {
      case 'dup':
        if (list && at(o.i) >= 0) list.push(JSON.parse(JSON.stringify(list[at(o.i)])));
        break;
      case 'drop':
        if (list && at(o.i) >= 0) list.splice(at(o.i), 1);
        break;
      case 'upper': {
        const s = list?.[at(o.i)] as { keyid?: unknown } | undefined;
        if (s && typeof s === 'object' && typeof s.keyid === 'string')
          s.keyid = s.keyid.toUpperCase();
        break;
      }
      case 'flipSig': {
        const s = list?.[at(o.i)] as { sig?: unknown } | undefined;
        if (s && typeof s === 'object' && typeof s.sig === 'string') {
          const b = Buffer.from(s.sig, 'base64');
          const i = (o.at ?? 0) % b.length;
          if (b.length > 0) b[i] = (b[i] as number) ^ 1;
          s.sig = b.toString('base64');
        }
        break;
      }
      case 'rekey': {
        const s = list?.[at(o.i)] as { keyid?: unknown } | undefined;
        if (s && typeof s === 'object') s.keyid = idOf(ALL[o.key] as SigningKey);
        break;
      }
      case 'extra': {
        // A real signature by any key (trusted or not), over the base payload or other bytes.
        list?.push(extraSignature(base, type, o.key, o.other));
        break;
      }
      case 'flipPayload': {
        const b = body();
        const i = o.at % Math.max(1, b.length);
        if (b.length > 0) b[i] = (b[i] as number) ^ 0x20;
        env.payload = b.toString('base64');
        break;
      }
      case 'setField':
        Object.defineProperty(env, o.field, {
          value: o.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        break;
      case 'setSigField': {
        const s = list?.[at(o.i)];
        if (s && typeof s === 'object')
          Object.defineProperty(s, o.field, {
            value: o.value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        break;
      }
    }
  }
  return JSON.stringify(env);
}

/** Text-level damage after the object mutations: a few characters replaced or cut. */
const textArb = fc.array(
  fc.record({ at: fc.nat(), ch: fc.string({ minLength: 1, maxLength: 1 }) }),
  { maxLength: 2 },
);
function damage(text: string, edits: readonly { at: number; ch: string }[]): string {
  let t = text;
  for (const e of edits) {
    const i = e.at % Math.max(1, t.length);
    t = t.slice(0, i) + e.ch + t.slice(i + 1);
  }
  return t;
}

function outcome(fn: () => unknown): { ok: true; value: unknown } | { ok: false; code: string } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    // Never an uncoded error: a TypeError or RangeError here is a crash of the verifier.
    expect(err).toBeInstanceOf(AgentError);
    expect(CODES.has((err as AgentError).code), (err as Error).message).toBe(true);
    return { ok: false, code: (err as AgentError).code };
  }
}

describe('fuzz: manifest envelope verification', () => {
  const base = signEnvelope(MANIFEST, [k1, k2]) as unknown as Env;

  it('the base case is accepted (the fuzzing starts from a valid document)', () => {
    expect(verifyManifest(Buffer.from(JSON.stringify(base)), POLICY).signerKeyIds).toHaveLength(2);
  });

  it('arbitrary bytes: only coded refusals', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(outcome(() => verifyManifest(bytes, POLICY)).ok).toBe(false);
      }),
      RUNS,
    );
  });

  it('mutated envelopes: accepted only with the threshold of distinct trusted keys', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 5 }), textArb, (ops, edits) => {
        const text = damage(apply(base, ops, PAYLOAD_TYPE), edits);
        const result = outcome(() => verifyManifest(Buffer.from(text), POLICY));
        if (!result.ok) return;
        expect(independentCount(text, PAYLOAD_TYPE, POLICY.trustedKeys)).toBeGreaterThanOrEqual(
          POLICY.threshold,
        );
        // Only the bytes the trusted keys signed can be accepted.
        expect(Buffer.from((JSON.parse(text) as Env).payload as string, 'base64')).toEqual(
          MANIFEST,
        );
      }),
      RUNS,
    );
  });

  it('extra, duplicate and foreign signatures never change the verdict on a valid document', () => {
    const safe = fc.array(
      fc.oneof(
        fc.record({ op: fc.constant('dup' as const), i: fc.nat(5) }),
        fc.record({ op: fc.constant('upper' as const), i: fc.nat(5) }),
        fc.record({ op: fc.constant('extra' as const), key: fc.nat(4), other: fc.boolean() }),
      ),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(safe, (ops) => {
        const text = apply(base, ops, PAYLOAD_TYPE);
        expect(outcome(() => verifyManifest(Buffer.from(text), POLICY)).ok).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  const one = signEnvelope(MANIFEST, [k1]) as unknown as Env;
  it('one trusted key signing many times, under ids in any case, never reaches threshold 2', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('dup', 'upper'), { maxLength: 6 }), (kinds) => {
        const ops = kinds.map((op) => ({ op, i: 0 }) as Op);
        const r = outcome(() => verifyManifest(Buffer.from(apply(one, ops, PAYLOAD_TYPE)), POLICY));
        expect(r).toEqual({ ok: false, code: 'THRESHOLD' });
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('fuzz: keys documents (rotation)', () => {
  const current: KeySet = { version: 0, keys: mapOf(k1, k2), threshold: 1 };
  const doc = Buffer.from(
    JSON.stringify({
      schema: 1,
      version: 1,
      keys: [k3, k4].map((k) => Buffer.from(k.publicKey).toString('hex')),
      threshold: 2,
    }),
  );
  const base = signEnvelope(doc, [k1, k3, k4], KEYS_PAYLOAD_TYPE) as unknown as Env;

  it('the base case is accepted', () => {
    expect(
      acceptKeysDocument(Buffer.from(JSON.stringify(base)), current, 'keys/1.json').threshold,
    ).toBe(2);
  });

  it('arbitrary bytes: only coded refusals', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(outcome(() => acceptKeysDocument(bytes, current, 'keys/1.json')).ok).toBe(false);
      }),
      RUNS,
    );
  });

  it('mutated documents: accepted only when both thresholds signed, the set well formed', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 5 }), textArb, (ops, edits) => {
        const text = damage(apply(base, ops, KEYS_PAYLOAD_TYPE), edits);
        const result = outcome(() => acceptKeysDocument(Buffer.from(text), current, 'keys/1.json'));
        if (!result.ok) return;
        const next = result.value as KeySet;
        expect(independentCount(text, KEYS_PAYLOAD_TYPE, current.keys)).toBeGreaterThanOrEqual(
          current.threshold,
        );
        expect(independentCount(text, KEYS_PAYLOAD_TYPE, next.keys)).toBeGreaterThanOrEqual(
          next.threshold,
        );
        expect(next.version).toBe(1);
        expect(next.threshold).toBeGreaterThanOrEqual(1);
        expect(next.threshold).toBeLessThanOrEqual(next.keys.size);
        for (const [id, key] of next.keys) expect(keyIdOf(key)).toBe(id);
      }),
      RUNS,
    );
  });
});
