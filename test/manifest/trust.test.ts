// From envelope bytes to a trusted manifest (PRODUCT.md section 3 and promise 5): signature and
// threshold, then the payload schema, then expiry and serial rollback.
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/manifest/dsse.ts';
import type { SigningKey } from '../../src/manifest/dsse.ts';
import { keyIdOf } from '../../src/manifest/keys.ts';
import { isSafeRelativePath } from '../../src/manifest/schema.ts';
import { checkFreshness, parsePayload, verifyManifest } from '../../src/manifest/trust.ts';
import type { TrustPolicy } from '../../src/manifest/trust.ts';
import { codeOf } from '../helpers/errors.ts';

const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(9));
const key: SigningKey = { secretKey: pair.secretKey, publicKey: pair.publicKey };
const NOW = new Date('2026-12-01T00:00:00Z');
const SHA = 'ab'.repeat(32);
const ROOT = 'CD'.repeat(32);
const UUID = '0123ABCD-4567-89ef-0123-456789abcdef';

type Json = Record<string, unknown>;

function image(overrides: Json = {}): Json {
  return {
    path: 'hello/hello_2.1.raw',
    size: 1_048_576,
    sha256: SHA,
    verity: {
      rootHash: ROOT,
      salt: 'A1b2',
      uuid: UUID,
      hashAlgorithm: 'sha256',
      dataBlockSize: 4096,
      hashBlockSize: 4096,
    },
    ...overrides,
  };
}

function payload(overrides: Json = {}): Json {
  return {
    schema: 1,
    serial: 12,
    issued: '2026-11-26T10:00:00Z',
    expires: '2026-12-26T10:00:00Z',
    extensions: { hello: { kind: 'sysext', versions: { '2.1': image() } } },
    ...overrides,
  };
}

/** A payload with one image field replaced (or removed with `undefined`). */
function withImage(overrides: Json): Json {
  return payload({
    extensions: { hello: { kind: 'sysext', versions: { '2.1': image(overrides) } } },
  });
}

function withVerity(overrides: Json): Json {
  const base = image().verity as Json;
  return withImage({ verity: { ...base, ...overrides } });
}

function sealRaw(raw: Buffer): Buffer {
  return Buffer.from(JSON.stringify(signEnvelope(raw, [key])), 'utf8');
}

function seal(doc: Json): Buffer {
  return sealRaw(Buffer.from(JSON.stringify(doc), 'utf8'));
}

function policy(overrides: Partial<TrustPolicy> = {}): TrustPolicy {
  return {
    trustedKeys: new Map([[keyIdOf(key.publicKey), key.publicKey]]),
    threshold: 1,
    lastSerial: null,
    now: NOW,
    ...overrides,
  };
}

describe('verifyManifest', () => {
  it('accepts a valid manifest and normalises hex and uuid to lower case', () => {
    const { payload: p, signerKeyIds } = verifyManifest(seal(payload()), policy());
    expect(signerKeyIds).toEqual([keyIdOf(key.publicKey)]);
    expect(p.serial).toBe(12);
    const entry = p.extensions['hello']?.versions['2.1']?.images[0];
    expect(entry?.size).toBe(1_048_576);
    expect(entry?.path).toBe('hello/hello_2.1.raw');
    expect(entry?.verity.rootHash).toBe('cd'.repeat(32));
    expect(entry?.verity.uuid).toBe('0123abcd-4567-89ef-0123-456789abcdef');
    expect(entry?.verity.salt).toBe('a1b2');
    expect(p.extensions['hello']?.kind).toBe('sysext');
  });

  it('accepts confext, an empty salt and an offset timestamp', () => {
    const doc = payload({
      expires: '2026-12-26T10:00:00+02:00',
      extensions: { cfg: { kind: 'confext', versions: { '1': withVerityEntry({ salt: '' }) } } },
    });
    expect(verifyManifest(seal(doc), policy()).payload.extensions['cfg']?.kind).toBe('confext');
  });

  it('an expired manifest gives EXPIRED, also at the exact expiry instant', () => {
    expect(
      codeOf(() => verifyManifest(seal(payload({ expires: '2026-11-30T23:59:59Z' })), policy())),
    ).toBe('EXPIRED');
    expect(
      codeOf(() =>
        verifyManifest(seal(payload()), policy({ now: new Date('2026-12-26T10:00:00Z') })),
      ),
    ).toBe('EXPIRED');
    expect(
      verifyManifest(seal(payload()), policy({ now: new Date('2026-12-26T09:59:59Z') })).payload
        .serial,
    ).toBe(12);
  });

  it('a serial lower than the last accepted gives SERIAL_ROLLBACK; equal and higher pass', () => {
    expect(codeOf(() => verifyManifest(seal(payload()), policy({ lastSerial: 13 })))).toBe(
      'SERIAL_ROLLBACK',
    );
    expect(verifyManifest(seal(payload()), policy({ lastSerial: 12 })).payload.serial).toBe(12);
    expect(verifyManifest(seal(payload()), policy({ lastSerial: 11 })).payload.serial).toBe(12);
    expect(
      verifyManifest(seal(payload({ serial: 0 })), policy({ lastSerial: 0 })).payload.serial,
    ).toBe(0);
  });

  it('checks the signature before parsing the payload', () => {
    // An invalid payload signed by an untrusted key reports the trust failure, not the format.
    const other = nacl.sign.keyPair();
    const env = signEnvelope(Buffer.from('not json'), [
      { secretKey: other.secretKey, publicKey: other.publicKey },
    ]);
    expect(codeOf(() => verifyManifest(Buffer.from(JSON.stringify(env)), policy()))).toBe(
      'UNTRUSTED',
    );
  });

  it('a wrong key: the message lists the signers, the trusted keys and where those came from', () => {
    const other = nacl.sign.keyPair();
    const env = signEnvelope(Buffer.from(JSON.stringify(payload())), [
      { secretKey: other.secretKey, publicKey: other.publicKey },
    ]);
    const bytes = Buffer.from(JSON.stringify(env));
    const source = '/srv/root/etc/sysext-agent/keys; fleet.pem is an ed25519 public key ...';
    let message = '';
    try {
      verifyManifest(bytes, policy({ trustSource: source }));
    } catch (err) {
      expect((err as { code?: string }).code).toBe('UNTRUSTED');
      message = (err as Error).message;
    }
    expect(message).toContain(`signed by ${keyIdOf(other.publicKey)}`);
    expect(message).toContain(`trusted: ${keyIdOf(key.publicKey)}`);
    expect(message).toContain(`trusted keys read from ${source}`);
    expect(message).toContain("add the publisher's public key there as NAME.pub");
  });

  it('a threshold not met: both key lists; an altered copy names the trusted key', () => {
    const second = nacl.sign.keyPair();
    const trusted = new Map([
      [keyIdOf(key.publicKey), key.publicKey],
      [keyIdOf(second.publicKey), second.publicKey],
    ]);
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return `${(err as { code?: string }).code}: ${(err as Error).message}`;
      }
      return 'no error';
    };
    const short = message(() =>
      verifyManifest(seal(payload()), policy({ trustedKeys: trusted, threshold: 2 })),
    );
    expect(short).toMatch(/^THRESHOLD: .*threshold is 2/);
    expect(short).toContain(`signed by ${keyIdOf(key.publicKey)}`);
    expect(short).toContain(keyIdOf(second.publicKey));
    const env = JSON.parse(seal(payload()).toString('utf8')) as { payload: string };
    env.payload = Buffer.from(JSON.stringify(payload({ serial: 13 }))).toString('base64');
    const altered = message(() =>
      verifyManifest(Buffer.from(JSON.stringify(env)), policy({ trustSource: '/keys' })),
    );
    expect(altered).toMatch(/^SIGNATURE: /);
    expect(altered).toContain(`trusted key ${keyIdOf(key.publicKey)} does not verify`);
    expect(altered).toContain('trusted keys read from /keys');
  });

  it('a signed payload that is not JSON gives MANIFEST_FORMAT', () => {
    expect(codeOf(() => verifyManifest(sealRaw(Buffer.from('{"schema":1,')), policy()))).toBe(
      'MANIFEST_FORMAT',
    );
  });

  it('unknown fields are ignored but stay covered by the signature', () => {
    const doc = payload({ comment: 'release 12', extra: { nested: [1, 2] } });
    const bytes = seal(doc);
    const accepted = verifyManifest(bytes, policy()).payload;
    expect(accepted).not.toHaveProperty('comment');
    expect(accepted).not.toHaveProperty('extra');

    const env = JSON.parse(bytes.toString('utf8')) as { payload: string };
    const raw = Buffer.from(env.payload, 'base64').toString('utf8');
    const altered = raw.replace('release 12', 'release 13');
    expect(altered).not.toBe(raw);
    env.payload = Buffer.from(altered, 'utf8').toString('base64');
    expect(codeOf(() => verifyManifest(Buffer.from(JSON.stringify(env)), policy()))).toBe(
      'SIGNATURE',
    );
  });
});

function withVerityEntry(overrides: Json): Json {
  return image({ verity: { ...(image().verity as Json), ...overrides } });
}

function withName(name: string): Json {
  return payload({ extensions: { [name]: { kind: 'sysext', versions: { '1': image() } } } });
}

function withVersion(version: string): Json {
  return payload({ extensions: { hello: { kind: 'sysext', versions: { [version]: image() } } } });
}

describe('schema violations give MANIFEST_FORMAT', () => {
  const { expires: _expires, ...noExpires } = payload();
  const cases: [string, Json][] = [
    ['name with "_"', withName('hello_world')],
    ['name of 129 characters', withName('a'.repeat(129))],
    ['name starting with "."', withName('.hidden')],
    ['empty name', withName('')],
    ['name with "/"', withName('a/b')],
    ['version with a space', withVersion('1 0')],
    ['version starting with "-"', withVersion('-1')],
    ['version with "/"', withVersion('1/2')],
    ['version of 129 characters', withVersion('1'.repeat(129))],
    ['path with ".."', withImage({ path: 'hello/../../etc/passwd' })],
    ['path ".."', withImage({ path: '..' })],
    ['path with "//"', withImage({ path: 'hello//hello_2.1.raw' })],
    ['absolute path', withImage({ path: '/hello/hello_2.1.raw' })],
    ['path with a scheme', withImage({ path: 'http://evil.example/hello_2.1.raw' })],
    ['path with %2e%2e', withImage({ path: 'hello/%2e%2e/%2e%2e/x.raw' })],
    ['path with a backslash', withImage({ path: 'hello\\..\\x.raw' })],
    ['path with a query', withImage({ path: 'hello/x.raw?a=1' })],
    ['empty path', withImage({ path: '' })],
    ['path with a trailing "/"', withImage({ path: 'hello/' })],
    ['size not a multiple of 4096', withImage({ size: 4097 })],
    ['size 0', withImage({ size: 0 })],
    ['negative size', withImage({ size: -4096 })],
    ['fractional size', withImage({ size: 4096.5 })],
    ['size as a string', withImage({ size: '4096' })],
    ['sha256 of 63 hex digits', withImage({ sha256: 'a'.repeat(63) })],
    ['sha256 of 65 hex digits', withImage({ sha256: 'a'.repeat(65) })],
    ['sha256 not hex', withImage({ sha256: 'g'.repeat(64) })],
    ['missing sha256', withImage({ sha256: undefined })],
    ['missing verity', withImage({ verity: undefined })],
    ['rootHash not 64 hex', withVerity({ rootHash: 'ab' })],
    ['salt of odd length', withVerity({ salt: 'abc' })],
    ['salt not hex', withVerity({ salt: 'zz' })],
    ['bad uuid', withVerity({ uuid: '0123abcd-4567-89ef-0123-456789abcde' })],
    ['uuid without dashes', withVerity({ uuid: '0123abcd456789ef0123456789abcdef' })],
    ['hashAlgorithm sha1', withVerity({ hashAlgorithm: 'sha1' })],
    ['dataBlockSize 512', withVerity({ dataBlockSize: 512 })],
    ['hashBlockSize 1024', withVerity({ hashBlockSize: 1024 })],
    ['unknown kind', payload({ extensions: { hello: { kind: 'portable', versions: {} } } })],
    ['schema 2', payload({ schema: 2 })],
    ['schema "1"', payload({ schema: '1' })],
    ['missing expires', noExpires],
    ['expires not a date', payload({ expires: 'tomorrow' })],
    ['expires without a zone', payload({ expires: '2026-12-26T10:00:00' })],
    ['negative serial', payload({ serial: -1 })],
    ['fractional serial', payload({ serial: 1.5 })],
    ['missing extensions', payload({ extensions: undefined })],
    ['payload with no known field', { comment: 'x' }],
  ];

  // parsePayload is the step verifyManifest runs after the signatures (signing every case with
  // pure-JS ed25519 would cost seconds); the last test checks the same through verifyManifest.
  it('the base payload itself is accepted by parsePayload', () => {
    expect(parsePayload(Buffer.from(JSON.stringify(payload()))).serial).toBe(12);
  });

  it.each(cases)('%s', (_label, doc) => {
    expect(codeOf(() => parsePayload(Buffer.from(JSON.stringify(doc))))).toBe('MANIFEST_FORMAT');
  });

  it('a signed manifest with a schema violation gives MANIFEST_FORMAT from verifyManifest', () => {
    const doc = withImage({ path: 'hello/../../etc/shadow' });
    expect(codeOf(() => verifyManifest(seal(doc), policy()))).toBe('MANIFEST_FORMAT');
  });

  it('a JSON array payload gives MANIFEST_FORMAT', () => {
    expect(codeOf(() => parsePayload(Buffer.from('[1,2]')))).toBe('MANIFEST_FORMAT');
  });

  it('the limits themselves are accepted (128-character name and version)', () => {
    const name = 'a'.repeat(128);
    const version = '1'.repeat(128);
    const doc = payload({
      extensions: { [name]: { kind: 'sysext', versions: { [version]: image() } } },
    });
    const p = verifyManifest(seal(doc), policy()).payload;
    expect(Object.keys(p.extensions[name]?.versions ?? {})).toEqual([version]);
  });

  it('accepts the version characters of section 3 (. _ ~ ^ + -)', () => {
    const p = parsePayload(Buffer.from(JSON.stringify(withVersion('2.1_rc~1^git+3-4'))));
    expect(Object.keys(p.extensions['hello']?.versions ?? {})).toEqual(['2.1_rc~1^git+3-4']);
  });
});

describe('isSafeRelativePath', () => {
  it('accepts plain nested relative paths', () => {
    expect(isSafeRelativePath('hello/hello_2.1.raw')).toBe(true);
    expect(isSafeRelativePath('a/b/c/x_1~rc1^2+3.raw')).toBe(true);
  });
  it.each(['.', './x.raw', 'a/./b', '..', 'a/..', 'a//b', '/a', 'a/', 'C:x', 'a%2fb', 'a b'])(
    'rejects %j',
    (path) => {
      expect(isSafeRelativePath(path)).toBe(false);
    },
  );
});

describe('checkFreshness', () => {
  it('expiry is checked before the serial', () => {
    const p = parsePayload(
      Buffer.from(JSON.stringify(payload({ expires: '2020-01-01T00:00:00Z' }))),
    );
    expect(codeOf(() => checkFreshness(p, policy({ lastSerial: 99 })))).toBe('EXPIRED');
  });
});
