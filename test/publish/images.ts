/** Test images for the publish tests: fixtures/make-images.sh with its release and erofs options. */
import { execa } from 'execa';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, parsePublicKey } from '../../src/manifest/keys.ts';
import type { ManifestPayload } from '../../src/manifest/schema.ts';
import { verifyManifest } from '../../src/manifest/trust.ts';
import { PROJECT } from '../helpers/cli.ts';
import type { Sandbox } from '../helpers/sandbox.ts';

export interface ImageOptions {
  name?: string;
  /** `KEY=VALUE` (set) or `KEY` (leave out), as make-images.sh --release takes them. */
  release?: readonly string[];
  erofs?: boolean;
  confext?: boolean;
  healthFail?: boolean;
}

/** Builds NAME_VERSION.raw in `dir` (created) and returns its path. */
export async function buildImage(
  dir: string,
  version: string,
  opts: ImageOptions = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const args = [
    '--out',
    dir,
    ...(opts.name ? ['--name', opts.name] : []),
    ...(opts.erofs ? ['--erofs'] : []),
    ...(opts.confext ? ['--confext'] : []),
    ...(opts.healthFail ? ['--health-fail'] : []),
    ...(opts.release ?? []).flatMap((r) => ['--release', r]),
  ];
  await execa('bash', [join(PROJECT, 'fixtures/make-images.sh'), ...args, version]);
  return join(dir, `${opts.name ?? 'hello'}_${version}.raw`);
}

/** The repository's manifest, verified with the sandbox's trusted key (signature, schema, expiry). */
export async function verifiedPayload(sb: Sandbox): Promise<ManifestPayload> {
  const pub = parsePublicKey(
    await readFile(join(sb.keysDir, 'publisher.pub'), 'utf8'),
    'publisher.pub',
  );
  return verifyManifest(await readFile(join(sb.repo, 'manifest.json')), {
    trustedKeys: new Map([[keyIdOf(pub), pub]]),
    threshold: 1,
    lastSerial: null,
    now: new Date(),
  }).payload;
}

/** The signed payload document as written (schema 2 JSON, before normalization). */
export async function rawPayload(sb: Sandbox): Promise<Record<string, unknown>> {
  const env = JSON.parse(await readFile(join(sb.repo, 'manifest.json'), 'utf8')) as {
    payload: string;
  };
  return JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Record<string, unknown>;
}
