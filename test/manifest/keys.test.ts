// Key ids and key parsing (PRODUCT.md section 3: a key's id is the hex SHA-256 of its 32 raw
// public-key bytes). Vectors: RFC 8032 section 7.1, TEST 1.
import {
  createHash,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  formatPublicKey,
  formatSecretKey,
  generateKeyPair,
  keyIdOf,
  parsePublicKey,
  parseSecretKey,
} from '../../src/manifest/keys.ts';
import { codeOf } from '../helpers/errors.ts';

const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
/** sha256 of the 32 bytes above, computed independently with `xxd -r -p | sha256sum`. */
const RFC_KEY_ID = '21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9';
const RFC_EMPTY_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('keyIdOf', () => {
  it('is the hex SHA-256 of the 32 raw public key bytes', () => {
    expect(keyIdOf(Buffer.from(RFC_PUBLIC, 'hex'))).toBe(RFC_KEY_ID);
  });

  it('is lower-case hex of 64 digits and differs between keys', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(keyIdOf(a.publicKey)).toMatch(/^[0-9a-f]{64}$/);
    expect(keyIdOf(a.publicKey)).toBe(createHash('sha256').update(a.publicKey).digest('hex'));
    expect(keyIdOf(a.publicKey)).not.toBe(keyIdOf(b.publicKey));
  });
});

describe('parseSecretKey / parsePublicKey: base64 and hex', () => {
  it('a hex seed gives the RFC 8032 key pair and signature', () => {
    const key = parseSecretKey(RFC_SEED, 'test');
    expect(hex(key.publicKey)).toBe(RFC_PUBLIC);
    expect(hex(nacl.sign.detached(new Uint8Array(), key.secretKey))).toBe(RFC_EMPTY_SIG);
  });

  it('a base64 seed gives the same pair as the hex seed', () => {
    const b64 = Buffer.from(RFC_SEED, 'hex').toString('base64');
    expect(hex(parseSecretKey(`${b64}\n`, 'test').publicKey)).toBe(RFC_PUBLIC);
  });

  it('accepts a 64-byte secret key (seed + public) as hex and base64', () => {
    const full = RFC_SEED + RFC_PUBLIC;
    expect(hex(parseSecretKey(full, 'test').publicKey)).toBe(RFC_PUBLIC);
    const b64 = Buffer.from(full, 'hex').toString('base64');
    expect(hex(parseSecretKey(b64, 'test').secretKey)).toBe(full);
  });

  it('public keys parse from base64 (with surrounding whitespace) and hex, upper or lower case', () => {
    const b64 = Buffer.from(RFC_PUBLIC, 'hex').toString('base64');
    expect(hex(parsePublicKey(`  ${b64}\n`, 'test'))).toBe(RFC_PUBLIC);
    expect(hex(parsePublicKey(RFC_PUBLIC, 'test'))).toBe(RFC_PUBLIC);
    expect(hex(parsePublicKey(RFC_PUBLIC.toUpperCase(), 'test'))).toBe(RFC_PUBLIC);
  });

  it('the keygen file formats round-trip', () => {
    const key = generateKeyPair();
    const back = parseSecretKey(formatSecretKey(key), 'key');
    expect(hex(back.secretKey)).toBe(hex(key.secretKey));
    expect(hex(parsePublicKey(formatPublicKey(key), 'pub'))).toBe(hex(key.publicKey));
  });
});

describe('PEM keys from node:crypto', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const message = Buffer.from('DSSEv1 1 x 5 hello');

  it('parsed private and public PEM describe the same key', () => {
    const secret = parseSecretKey(privatePem, 'key.pem');
    const pub = parsePublicKey(publicPem, 'pub.pem');
    expect(pub).toHaveLength(32);
    expect(hex(secret.publicKey)).toBe(hex(pub));
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    expect(hex(pub)).toBe(hex(raw));
  });

  it('a tweetnacl signature with the parsed PEM secret verifies with node:crypto', () => {
    const secret = parseSecretKey(privatePem, 'key.pem');
    const sig = nacl.sign.detached(message, secret.secretKey);
    expect(nodeVerify(null, message, publicKey, sig)).toBe(true);
    // and it is the very signature node:crypto makes (ed25519 is deterministic)
    expect(hex(sig)).toBe(hex(nodeSign(null, message, privateKey)));
  });

  it('a node:crypto signature verifies with tweetnacl and the parsed PEM public key', () => {
    const sig = nodeSign(null, message, privateKey);
    const pub = parsePublicKey(publicPem, 'pub.pem');
    expect(nacl.sign.detached.verify(message, sig, pub)).toBe(true);
    expect(nacl.sign.detached.verify(Buffer.from('other'), sig, pub)).toBe(false);
  });
});

describe('bad keys give BAD_KEY', () => {
  const other = generateKeyPairSync('x25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const edPublicPem = generateKeyPairSync('ed25519')
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();

  it.each([
    ['empty', ''],
    ['whitespace', '  \n'],
    ['garbage', 'this is not a key!'],
    ['31 bytes base64', Buffer.alloc(31, 7).toString('base64')],
    ['33 bytes base64', Buffer.alloc(33, 7).toString('base64')],
    ['62 hex digits', RFC_PUBLIC.slice(0, 62)],
    ['odd hex', RFC_PUBLIC.slice(0, 63)],
    ['64-byte secret as a public key', RFC_SEED + RFC_PUBLIC],
    ['x25519 PEM', other.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['RSA PEM', rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['truncated PEM', edPublicPem.slice(0, 40)],
  ])('public key: %s', (_label, text) => {
    expect(codeOf(() => parsePublicKey(text, 'k'))).toBe('BAD_KEY');
  });

  it.each([
    ['empty', ''],
    ['garbage', 'not-a-key'],
    ['31 bytes hex', RFC_SEED.slice(0, 62)],
    ['48 bytes base64', Buffer.alloc(48, 1).toString('base64')],
    ['public PEM as a private key', edPublicPem],
    ['x25519 private PEM', other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['RSA private PEM', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
  ])('secret key: %s', (_label, text) => {
    expect(codeOf(() => parseSecretKey(text, 'k'))).toBe('BAD_KEY');
  });
});
