/** A repository's manifest payload as the agent reads it (schema 1 or 2, normalized), unverified. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { payloadSchema, type ImageEntry, type ManifestPayload } from '../../src/manifest/schema.ts';

export async function repoPayload(repo: string): Promise<ManifestPayload> {
  const envelope = JSON.parse(await readFile(join(repo, 'manifest.json'), 'utf8')) as {
    payload: string;
  };
  return payloadSchema.parse(JSON.parse(Buffer.from(envelope.payload, 'base64').toString()));
}

/** The (first) image of NAME VERSION in the repository's manifest. */
export async function repoImage(repo: string, name: string, version: string): Promise<ImageEntry> {
  const image = (await repoPayload(repo)).extensions[name]?.versions[version]?.images[0];
  if (!image) throw new Error(`${name} ${version} is not in the manifest of ${repo}`);
  return image;
}
