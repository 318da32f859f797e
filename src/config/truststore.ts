/** Loads the trusted public keys: every *.pub in a directory (or one key file). */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { keyIdOf, parsePublicKey } from '../manifest/keys.ts';

export async function loadTrustedKeys(location: string): Promise<Map<string, Uint8Array>> {
  let files: string[];
  try {
    const info = await stat(location);
    files = info.isDirectory()
      ? (await readdir(location))
          .filter((f) => f.endsWith('.pub'))
          .sort()
          .map((f) => join(location, f))
      : [location];
  } catch (err) {
    throw new AgentError('CONFIG', `trustedKeys ${location}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const keys = new Map<string, Uint8Array>();
  for (const file of files) {
    const key = parsePublicKey(await readFile(file, 'utf8'), file);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0)
    throw new AgentError('CONFIG', `trustedKeys ${location}: no *.pub key found`);
  return keys;
}
