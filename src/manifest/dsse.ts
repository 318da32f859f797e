/**
 * DSSE envelopes (secure-systems-lab/dsse, protocol.md): signatures cover the
 * pre-authentication encoding, never the raw payload, so the payload type is bound too.
 * Pure: bytes in, bytes out.
 */
import nacl from 'tweetnacl';
import { AgentError } from '../errors.ts';
import { keyIdOf } from './keys.ts';

export const PAYLOAD_TYPE = 'application/vnd.sysext-agent.manifest+json';

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const head = Buffer.from(
    `DSSEv1 ${type.length} ${type.toString('utf8')} ${body.length} `,
    'utf8',
  );
  return Buffer.concat([head, body]);
}

export interface SigningKey {
  /** 64-byte tweetnacl secret key (seed followed by public key). */
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function signEnvelope(payload: Uint8Array, keys: readonly SigningKey[]): Envelope {
  const message = pae(PAYLOAD_TYPE, payload);
  return {
    payloadType: PAYLOAD_TYPE,
    payload: Buffer.from(payload).toString('base64'),
    signatures: keys.map((k) => ({
      keyid: keyIdOf(k.publicKey),
      sig: Buffer.from(nacl.sign.detached(message, k.secretKey)).toString('base64'),
    })),
  };
}

/** Strict base64 (RFC 4648 section 4): Buffer.from would silently skip bad characters. */
export function decodeBase64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new AgentError('MANIFEST_FORMAT', `${what} is not valid base64`);
  }
  return Buffer.from(text, 'base64');
}

/** Parses the outer envelope only; the payload stays opaque until signatures are checked. */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new AgentError('MANIFEST_FORMAT', 'manifest is not valid JSON', { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new AgentError('MANIFEST_FORMAT', 'manifest is not a DSSE envelope object');
  }
  const env = doc as Record<string, unknown>;
  if (env.payloadType !== PAYLOAD_TYPE) {
    throw new AgentError(
      'MANIFEST_FORMAT',
      `manifest payloadType is ${JSON.stringify(env.payloadType)}, expected ${PAYLOAD_TYPE}`,
    );
  }
  if (typeof env.payload !== 'string') {
    throw new AgentError('MANIFEST_FORMAT', 'manifest payload is missing or not a string');
  }
  if (!Array.isArray(env.signatures)) {
    throw new AgentError('MANIFEST_FORMAT', 'manifest signatures are missing or not a list');
  }
  // A malformed entry is skipped, not fatal: one broken or foreign signature must not veto the
  // valid ones (the threshold decides). DSSE envelope.md: `keyid` is optional, and unset is the
  // same as empty (which matches no trusted key).
  const signatures: Envelope['signatures'] = [];
  for (const s of env.signatures as unknown[]) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) continue;
    const { keyid = '', sig } = s as Record<string, unknown>;
    if (typeof keyid !== 'string' || typeof sig !== 'string') continue;
    signatures.push({ keyid, sig });
  }
  return { payloadType: env.payloadType, payload: env.payload, signatures };
}

/**
 * Counts distinct trusted keys with a valid signature over PAE(payload). A key id that
 * appears twice counts once (PRODUCT.md promise 5); unknown key ids are ignored.
 * Returns the payload bytes, which may be parsed only when the threshold is met.
 */
export function verifyEnvelope(
  env: Envelope,
  trusted: ReadonlyMap<string, Uint8Array>,
  threshold: number,
): { payload: Buffer; validKeyIds: string[] } {
  const payload = decodeBase64(env.payload, 'manifest payload');
  const message = pae(env.payloadType, payload);
  const valid = new Set<string>();
  for (const { keyid, sig } of env.signatures) {
    const key = trusted.get(keyid.toLowerCase());
    if (!key || valid.has(keyid.toLowerCase())) continue;
    let sigBytes: Buffer;
    try {
      sigBytes = decodeBase64(sig, 'signature');
    } catch {
      continue;
    }
    if (
      sigBytes.length === nacl.sign.signatureLength &&
      nacl.sign.detached.verify(message, sigBytes, key)
    ) {
      valid.add(keyid.toLowerCase());
    }
  }
  if (valid.size < threshold) throw thresholdError(env, trusted, valid.size, threshold);
  return { payload, validKeyIds: [...valid] };
}

function thresholdError(
  env: Envelope,
  trusted: ReadonlyMap<string, Uint8Array>,
  valid: number,
  threshold: number,
): AgentError {
  // Both sides of the comparison, so that an operator sees at once which key is missing where.
  const signers = [...new Set(env.signatures.map((s) => s.keyid.toLowerCase()))];
  const keys = `signed by ${signers.join(', ') || 'no key'}; trusted: ${[...trusted.keys()].join(', ') || 'no key'}`;
  if (valid > 0) {
    return new AgentError(
      'THRESHOLD',
      `manifest has ${valid} valid signature(s) from distinct trusted keys, threshold is ${threshold} (${keys})`,
    );
  }
  const altered = signers.find((k) => trusted.has(k));
  if (altered !== undefined) {
    return new AgentError(
      'SIGNATURE',
      `manifest signature by trusted key ${altered} does not verify: payload or signature was altered`,
    );
  }
  return new AgentError('UNTRUSTED', `manifest is not signed by any trusted key (${keys})`);
}
