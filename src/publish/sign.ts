/**
 * `sign`: wrap an existing payload in a signed envelope, byte for byte (the signature covers the
 * exact bytes, so the payload is never re-serialized). A payload that would not pass the agent's
 * schema is still signed (repositories built by other tools, negative tests), with a warning.
 */
import { readFile } from 'node:fs/promises';
import { AgentError } from '../errors.ts';
import { signEnvelope, type Envelope, type SigningKey } from '../manifest/dsse.ts';
import { parsePayload } from '../manifest/trust.ts';

export async function signPayloadFile(
  file: string,
  keys: readonly SigningKey[],
): Promise<{ envelope: Envelope; warning: string | null }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new AgentError('USAGE', `cannot read payload ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new AgentError('MANIFEST_FORMAT', `${file}: payload is not valid JSON`, { cause: err });
  }
  let warning: string | null = null;
  try {
    parsePayload(bytes);
  } catch (err) {
    warning = `${file}: the agent will refuse this payload: ${(err as Error).message}`;
  }
  return { envelope: signEnvelope(bytes, keys), warning };
}
