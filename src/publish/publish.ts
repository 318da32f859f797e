/**
 * `publish`: add images to a static repository (copy, hash, verity, next serial, sign). Images
 * are copied first and the signed manifest is renamed into place last, so a client never sees
 * a manifest naming an image that is not there yet.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AgentError } from '../errors.ts';
import { parseEnvelope, signEnvelope, decodeBase64, type SigningKey } from '../manifest/dsse.ts';
import {
  BLOCK_SIZE,
  type ExtensionKind,
  type ImageEntry,
  type ManifestPayload,
  serializePayload,
} from '../manifest/schema.ts';
import { parsePayload } from '../manifest/trust.ts';
import { renameDurable, tempPathFor, writeFileAtomic, fsyncFile } from '../store/atomic.ts';
import { randomVerityParams } from '../verity/file.ts';
import { VerityTreeBuilder } from '../verity/tree.ts';
import { parseImageFileName } from '../version/syntax.ts';

export interface PublishOptions {
  repo: string;
  keys: readonly SigningKey[];
  expiresInMs: number;
  kind: ExtensionKind;
  images: readonly string[];
  now: Date;
}

export interface PublishedImage {
  name: string;
  version: string;
  entry: ImageEntry;
  unchanged: boolean;
}

async function readPreviousPayload(repo: string): Promise<ManifestPayload | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(repo, 'manifest.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parsePayload(decodeBase64(parseEnvelope(bytes).payload, 'manifest payload'));
}

/** SHA-256 and the verity tree in one read of the image. */
async function describeImage(
  file: string,
): Promise<{ entry: Omit<ImageEntry, 'path'>; hashFile: Buffer }> {
  const { size } = await stat(file);
  if (size === 0 || size % BLOCK_SIZE !== 0) {
    throw new AgentError(
      'BAD_IMAGE',
      `${file}: size ${size} is not a positive multiple of ${BLOCK_SIZE} bytes (dm-verity data blocks); pad the image`,
    );
  }
  const params = randomVerityParams();
  const tree = new VerityTreeBuilder(params);
  const sha = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    tree.update(chunk as Buffer);
  }
  const result = tree.digest();
  return {
    hashFile: result.hashFile,
    entry: {
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
    },
  };
}

async function copyInto(repo: string, file: string, relPath: string): Promise<void> {
  const target = join(repo, relPath);
  await mkdir(join(target, '..'), { recursive: true });
  const tmp = tempPathFor(target);
  await copyFile(file, tmp);
  await fsyncFile(tmp);
  await renameDurable(tmp, target);
}

async function addImage(
  opts: PublishOptions,
  payload: ManifestPayload,
  file: string,
): Promise<PublishedImage> {
  const parsed = parseImageFileName(basename(file));
  if (!parsed) {
    throw new AgentError(
      'USAGE',
      `${file}: file name must be NAME_VERSION.raw (name without "_", version per the UAPI version format)`,
    );
  }
  const { name, version } = parsed;
  const ext = (payload.extensions[name] ??= { kind: opts.kind, versions: {} });
  if (ext.kind !== opts.kind) {
    throw new AgentError(
      'USAGE',
      `${name} is a ${ext.kind} in this repository, not a ${opts.kind} (use --kind ${ext.kind})`,
    );
  }
  const described = await describeImage(file);
  const previous = ext.versions[version]?.images[0];
  if (previous && previous.sha256 === described.entry.sha256)
    return { name, version, entry: previous, unchanged: true };
  if (previous) {
    throw new AgentError(
      'USAGE',
      `${name} ${version} is already published with other content; publish a new version instead`,
    );
  }
  const entry: ImageEntry = { path: `${name}/${name}_${version}.raw`, ...described.entry };
  await copyInto(opts.repo, file, entry.path);
  ext.versions[version] = { images: [entry], rolloutPercent: 100 };
  return { name, version, entry, unchanged: false };
}

export async function publish(
  opts: PublishOptions,
): Promise<{ payload: ManifestPayload; images: PublishedImage[] }> {
  await mkdir(opts.repo, { recursive: true });
  const previous = await readPreviousPayload(opts.repo);
  const payload: ManifestPayload = {
    schema: 2,
    serial: (previous?.serial ?? 0) + 1,
    issued: opts.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    expires: new Date(opts.now.getTime() + opts.expiresInMs)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z'),
    extensions: previous?.extensions ?? {},
  };
  const images: PublishedImage[] = [];
  for (const file of opts.images) images.push(await addImage(opts, payload, file));
  const document = JSON.stringify(serializePayload(payload), null, 2) + '\n';
  const envelope = signEnvelope(Buffer.from(document), opts.keys);
  await writeFileAtomic(join(opts.repo, 'manifest.json'), JSON.stringify(envelope, null, 2) + '\n');
  return { payload, images };
}
