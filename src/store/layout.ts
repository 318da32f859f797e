/**
 * The one description of the agent's file names (PRODUCT.md section 2), without I/O:
 *   images/NAME/NAME_VERSION.raw        a verified image
 *   images/NAME/NAME_VERSION.verity     its dm-verity hash file (veritysetup format)
 *   images/NAME/NAME_VERSION.roothash   its root hash, hex text as systemd reads it
 *   partial/NAME_VERSION.raw.part       an unfinished download, `.part.meta` what it was fetched as
 *   EXTDIR/NAME.raw (+ .roothash, .verity)  activation entries, relative symlinks into the store
 *   .BASENAME.PID.RANDOM.tmp            temp names of atomic writes, next to their target
 *   rescued/KIND/                       entries `rescue` took out of the merge (not the agent's)
 * Everything that builds or parses one of these names does it here.
 */
import { basename, join } from 'node:path';
import { extensionDir, type HostPaths } from '../config/paths.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { parseImageFileName } from '../version/syntax.ts';

const IMAGE = '.raw';
const PART = '.part';
const META = '.meta';

export interface StoredImage {
  image: string;
  hashFile: string;
  rootHashFile: string;
}

export interface ActivationEntries {
  image: string;
  rootHash: string;
  verity: string;
}

export function storeDir(paths: HostPaths, name: string): string {
  return join(paths.imagesDir, name);
}

export function imageFileName(name: string, version: string): string {
  return `${name}_${version}${IMAGE}`;
}

export function storedImage(paths: HostPaths, name: string, version: string): StoredImage {
  const stem = join(storeDir(paths, name), `${name}_${version}`);
  return { image: `${stem}${IMAGE}`, hashFile: `${stem}.verity`, rootHashFile: `${stem}.roothash` };
}

/** The version of a store file name `NAME_VERSION.raw` of extension `name`, if it is one. */
export function storedVersionOf(name: string, fileName: string): string | null {
  const parsed = parseImageFileName(fileName);
  return parsed && parsed.name === name ? parsed.version : null;
}

/** Where `rescue` moves an entry it does not manage that broke the merge of `kind`. */
export function rescuedDir(paths: HostPaths, kind: ExtensionKind): string {
  return join(paths.stateDir, 'rescued', kind);
}

export function partialPath(paths: HostPaths, name: string, version: string): string {
  return join(paths.partialDir, `${imageFileName(name, version)}${PART}`);
}

export function partialMetaPath(partial: string): string {
  return `${partial}${META}`;
}

/** Name and version of a file in partial/ (the download or its metadata), if it is one. */
export function parsePartialFileName(
  fileName: string,
): { name: string; version: string } | undefined {
  const stem = fileName.endsWith(PART + META)
    ? fileName.slice(0, -(PART + META).length)
    : fileName.endsWith(PART)
      ? fileName.slice(0, -PART.length)
      : fileName;
  return stem === fileName ? undefined : parseImageFileName(stem);
}

export function activationEntries(
  paths: HostPaths,
  kind: ExtensionKind,
  name: string,
): ActivationEntries {
  const dir = extensionDir(paths, kind);
  return {
    image: join(dir, `${name}${IMAGE}`),
    rootHash: join(dir, `${name}.roothash`),
    verity: join(dir, `${name}.verity`),
  };
}

/** The extension name of an activation entry `NAME.raw` (not a temp file), if it is one. */
export function activationNameOf(fileName: string): string | null {
  return fileName.endsWith(IMAGE) && !fileName.startsWith('.')
    ? fileName.slice(0, -IMAGE.length)
    : null;
}

/** The version an activation symlink of `name` points at, from its target. */
export function versionOfLinkTarget(name: string, target: string): string | null {
  return storedVersionOf(name, basename(target));
}

export function tempName(path: string, pid: number, random: string): string {
  return `.${basename(path)}.${pid}.${random}.tmp`;
}

export function isTempName(fileName: string): boolean {
  return /^\..+\.tmp$/.test(fileName);
}
