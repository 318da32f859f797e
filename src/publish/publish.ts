/**
 * `publish`: add images to a static repository (read and check each image's extension-release,
 * copy, hash, verity, next serial, sign). Every image is checked before anything is written, so
 * a refused image leaves the repository as it was; images are copied first and the signed
 * manifest is renamed into place last, so a client never sees a manifest naming an image that
 * is not there yet.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AgentError } from '../errors.ts';
import type { SigningKey } from '../manifest/dsse.ts';
import {
  BLOCK_SIZE,
  type ExtensionKind,
  type ImageEntry,
  type ManifestPayload,
} from '../manifest/schema.ts';
import { renameDurable, tempPathFor, fsyncFile } from '../store/atomic.ts';
import { randomVerityParams } from '../verity/file.ts';
import { VerityTreeBuilder } from '../verity/tree.ts';
import { parseImageFileName } from '../version/syntax.ts';
import { readImageRelease, type Filesystem } from './inspect.ts';
import { nextPayload, readRepositoryPayload, signedManifest, writeManifest } from './repository.ts';
import { pathForNewImage, sameRelease } from './variant.ts';

export interface PublishOptions {
  repo: string;
  keys: readonly SigningKey[];
  expiresInMs: number;
  kind: ExtensionKind;
  images: readonly string[];
  now: Date;
  /** Rollout percent of every version an image is added to (absent: new versions get 100). */
  rolloutPercent?: number;
}

export interface PublishedImage {
  name: string;
  version: string;
  filesystem: Filesystem;
  entry: ImageEntry;
  unchanged: boolean;
}

/** An image read and checked, not yet in the repository. */
interface Candidate {
  file: string;
  name: string;
  version: string;
  filesystem: Filesystem;
  release: Record<string, string>;
  size: number;
  sha256: string;
  verity: ImageEntry['verity'];
}

async function checkSize(file: string): Promise<number> {
  const { size } = await stat(file);
  if (size === 0 || size % BLOCK_SIZE !== 0) {
    throw new AgentError(
      'BAD_IMAGE',
      `${file}: size ${size} is not a positive multiple of ${BLOCK_SIZE} bytes (dm-verity data blocks); pad the image`,
    );
  }
  return size;
}

/** SHA-256 and the verity tree in one read of the image. */
async function describeImage(file: string): Promise<Pick<Candidate, 'size' | 'sha256' | 'verity'>> {
  const params = randomVerityParams();
  const tree = new VerityTreeBuilder(params);
  const sha = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    tree.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const result = tree.digest();
  return {
    size,
    sha256: sha.digest('hex'),
    verity: {
      rootHash: result.rootHash,
      salt: params.salt.toString('hex'),
      uuid: params.uuid,
      hashAlgorithm: 'sha256',
      dataBlockSize: BLOCK_SIZE,
      hashBlockSize: BLOCK_SIZE,
    },
  };
}

/** Everything publish checks of one image before the repository is touched. */
async function examine(file: string, kind: ExtensionKind): Promise<Candidate> {
  const parsed = parseImageFileName(basename(file));
  if (!parsed) {
    throw new AgentError(
      'USAGE',
      `${file}: file name must be NAME_VERSION.raw (name without "_", version per the UAPI version format)`,
    );
  }
  const size = await checkSize(file);
  const release = await readImageRelease(file, parsed.name, kind);
  const described = await describeImage(file);
  if (described.size !== size)
    throw new AgentError('BAD_IMAGE', `${file} changed while being read`);
  return {
    file,
    ...parsed,
    filesystem: release.filesystem,
    release: release.checked,
    ...described,
  };
}

function describeRelease(release: Record<string, string>): string {
  const text = Object.entries(release)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return text === '' ? 'no release fields' : text;
}

/**
 * Puts a checked image into the payload (in memory): unchanged when the version already has
 * these bytes; refused (USAGE: the repository already says otherwise) when the extension is of
 * the other kind or the version already has an image for the same release with other bytes;
 * else added next to the version's other images.
 */
function place(
  payload: ManifestPayload,
  c: Candidate,
  opts: PublishOptions,
): { entry: ImageEntry; unchanged: boolean } {
  // Own properties only: "constructor" is a valid extension name and version.
  if (!Object.hasOwn(payload.extensions, c.name))
    payload.extensions[c.name] = { kind: opts.kind, versions: {} };
  const ext = payload.extensions[c.name] as ManifestPayload['extensions'][string];
  if (ext.kind !== opts.kind) {
    throw new AgentError(
      'USAGE',
      `${c.file} is a ${opts.kind}, but ${c.name} is a ${ext.kind} in this repository; an extension keeps its kind (publish it under another name)`,
    );
  }
  const existing = Object.hasOwn(ext.versions, c.version) ? ext.versions[c.version] : undefined;
  const same = existing?.images.find((i) => i.sha256 === c.sha256);
  if (same) return { entry: same, unchanged: true };
  const conflict = existing?.images.find(
    (i) => i.release === undefined || sameRelease(i.release, c.release),
  );
  if (conflict) {
    const target =
      conflict.release === undefined
        ? '(published without release fields)'
        : `for ${describeRelease(c.release)}`;
    throw new AgentError(
      'USAGE',
      `${c.name} ${c.version} is already published ${target} with other content (${conflict.path}); publish a new version instead`,
    );
  }
  const taken = new Set(existing?.images.map((i) => i.path) ?? []);
  const path = pathForNewImage(opts.kind, c.name, c.version, c.release, taken);
  if (path === undefined) {
    throw new AgentError(
      'USAGE',
      `${c.name} ${c.version}: no free path for an image for ${describeRelease(c.release)}`,
    );
  }
  const entry: ImageEntry = {
    path,
    size: c.size,
    sha256: c.sha256,
    verity: c.verity,
    release: c.release,
  };
  if (existing) {
    existing.images.push(entry);
    if (opts.rolloutPercent !== undefined) existing.rolloutPercent = opts.rolloutPercent;
  } else {
    ext.versions[c.version] = { images: [entry], rolloutPercent: opts.rolloutPercent ?? 100 };
  }
  return { entry, unchanged: false };
}

async function copyInto(repo: string, file: string, relPath: string): Promise<void> {
  const target = join(repo, relPath);
  await mkdir(join(target, '..'), { recursive: true });
  const tmp = tempPathFor(target);
  await copyFile(file, tmp);
  await fsyncFile(tmp);
  await renameDurable(tmp, target);
}

export async function publish(
  opts: PublishOptions,
): Promise<{ payload: ManifestPayload; images: PublishedImage[] }> {
  if (opts.rolloutPercent !== undefined && opts.images.length === 0) {
    throw new AgentError(
      'USAGE',
      '--rollout sets the rollout of the versions the images given are added to; to change a published version, use: rollout NAME VERSION PERCENT',
    );
  }
  // 1. Read and check everything; nothing is written yet.
  const payload = nextPayload(await readRepositoryPayload(opts.repo), opts.now, opts.expiresInMs);
  const images: PublishedImage[] = [];
  const copies: { file: string; path: string }[] = [];
  for (const file of opts.images) {
    const c = await examine(file, opts.kind);
    const { entry, unchanged } = place(payload, c, opts);
    images.push({ name: c.name, version: c.version, filesystem: c.filesystem, entry, unchanged });
    if (!unchanged) copies.push({ file, path: entry.path });
  }
  const envelope = signedManifest(payload, opts.keys);
  // 2. Images first, the manifest that names them last.
  await mkdir(opts.repo, { recursive: true });
  for (const { file, path } of copies) await copyInto(opts.repo, file, path);
  await writeManifest(opts.repo, envelope);
  return { payload, images };
}
