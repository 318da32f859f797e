/** A repository's manifest payload as the agent reads it (schema 1 or 2, normalized), unverified. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { payloadSchema, type ImageEntry, type ManifestPayload } from '../../src/manifest/schema.ts';
import { runCli } from './cli.ts';
import type { Sandbox } from './sandbox.ts';

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

/**
 * Signs `envelope`'s payload again with the sandbox's key after `edit`, at the next serial,
 * into `output` (a repository's manifest.json): a publisher changing a published manifest.
 */
export async function resignManifest<P extends { serial: number }>(
  sb: Sandbox,
  envelope: string,
  output: string,
  edit: (payload: P) => void,
): Promise<void> {
  const { payload: encoded } = JSON.parse(envelope) as { payload: string };
  const payload = JSON.parse(Buffer.from(encoded, 'base64').toString()) as P;
  edit(payload);
  payload.serial += 1;
  const file = join(sb.dir, 'payload.json');
  await writeFile(file, JSON.stringify(payload));
  const r = await runCli(['sign', '--key', sb.key, '--output', output, file]);
  expect(r.exitCode, r.stderr).toBe(0);
}
