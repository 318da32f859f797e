/** Reading and writing key files for `keygen`, `sign` and `publish`. */
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { AgentError } from '../errors.ts';
import type { SigningKey } from '../manifest/dsse.ts';
import {
  formatPublicKey,
  formatSecretKey,
  generateKeyPair,
  keyIdOf,
  parseSecretKey,
} from '../manifest/keys.ts';
import { fsyncDir } from '../store/atomic.ts';
import { dirname } from 'node:path';

export async function readSigningKeys(files: readonly string[]): Promise<SigningKey[]> {
  if (files.length === 0) throw new AgentError('USAGE', 'at least one --key is required');
  const keys: SigningKey[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AgentError('USAGE', `cannot read key ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    keys.push(parseSecretKey(text, file));
  }
  // Two --key flags naming the same key would count once at the verifier anyway.
  const seen = new Set<string>();
  return keys.filter((k) => {
    const id = keyIdOf(k.publicKey);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export async function writeKeyPair(
  prefix: string,
): Promise<{ keyid: string; privateFile: string; publicFile: string }> {
  const privateFile = `${prefix}.key`;
  const publicFile = `${prefix}.pub`;
  for (const f of [privateFile, publicFile]) {
    if (existsSync(f))
      throw new AgentError('USAGE', `${f} already exists; refusing to overwrite a key`);
  }
  const key = generateKeyPair();
  try {
    await writeFile(privateFile, formatSecretKey(key), { mode: 0o600, flag: 'wx' });
    await writeFile(publicFile, formatPublicKey(key), { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw new AgentError('IO', `cannot write key files: ${(err as Error).message}`, { cause: err });
  }
  await fsyncDir(dirname(privateFile));
  return { keyid: keyIdOf(key.publicKey), privateFile, publicFile };
}
