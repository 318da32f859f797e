/**
 * Ed25519 key material. A key id is the hex SHA-256 of the 32 raw public-key bytes
 * (PRODUCT.md section 3). Files written by `keygen` hold one line of base64 (the raw 32-byte
 * public key, or the 32-byte seed); readers also accept hex and PEM (SPKI / PKCS#8, as written
 * by `openssl genpkey -algorithm ed25519`) so that keys made by other tools work too.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import nacl from 'tweetnacl';
import { AgentError } from '../errors.ts';
import type { SigningKey } from './dsse.ts';

export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

export function generateKeyPair(): SigningKey {
  const pair = nacl.sign.keyPair();
  return { secretKey: pair.secretKey, publicKey: pair.publicKey };
}

export function formatPublicKey(key: SigningKey): string {
  return Buffer.from(key.publicKey).toString('base64') + '\n';
}

export function formatSecretKey(key: SigningKey): string {
  return Buffer.from(key.secretKey.subarray(0, 32)).toString('base64') + '\n';
}

/** Raw bytes from base64, hex or PEM/DER text; `undefined` when the text is none of them. */
function decodeKeyText(text: string, kind: 'public' | 'private'): Buffer | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    try {
      const obj = kind === 'public' ? createPublicKey(trimmed) : createPrivateKey(trimmed);
      const jwk = obj.export({ format: 'jwk' });
      const field = kind === 'public' ? jwk.x : jwk.d;
      if (jwk.crv !== 'Ed25519' || !field) return undefined;
      return Buffer.from(field, 'base64url');
    } catch {
      return undefined;
    }
  }
  if (/^([0-9a-fA-F]{2})+$/.test(trimmed) && (trimmed.length === 64 || trimmed.length === 128)) {
    return Buffer.from(trimmed, 'hex');
  }
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return Buffer.from(trimmed, 'base64');
  return undefined;
}

export function parsePublicKey(text: string, source: string): Uint8Array {
  const raw = decodeKeyText(text, 'public');
  if (!raw || raw.length !== 32) {
    throw new AgentError(
      'BAD_KEY',
      `${source}: not an ed25519 public key (expected 32 bytes as base64, hex or PEM)`,
    );
  }
  return new Uint8Array(raw);
}

export function parseSecretKey(text: string, source: string): SigningKey {
  const raw = decodeKeyText(text, 'private');
  if (raw?.length === 32) {
    const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(raw));
    return { secretKey: pair.secretKey, publicKey: pair.publicKey };
  }
  if (raw?.length === 64) {
    const pair = nacl.sign.keyPair.fromSecretKey(new Uint8Array(raw));
    return { secretKey: pair.secretKey, publicKey: pair.publicKey };
  }
  throw new AgentError(
    'BAD_KEY',
    `${source}: not an ed25519 private key (expected a 32-byte seed as base64, hex or PEM)`,
  );
}
