/**
 * The one description of the agent's file names (PRODUCT.md section 2), without I/O:
 *   images/NAME/NAME_VERSION.raw        a verified image
 *   images/NAME/NAME_VERSION.verity     its dm-verity hash file (veritysetup format)
 *   images/NAME/NAME_VERSION.roothash   its root hash, hex text as systemd reads it
 *   partial/NAME_VERSION.raw.part       an unfinished download, `.part.meta` what it was fetched as
 *   EXTDIR/NAME.raw (+ .roothash, .verity)  activation entries, relative symlinks into the store
 *   .BASENAME.PID.RANDOM.tmp            temp names of atomic writes, next to their target
 *   rescued/KIND/                       entries `rescue` took out of the merge (not the agent's)
 * Everything that builds or parses one of these names does it here, and every path built from a
 * name or version is checked twice: the name and version against the rules (src/version/syntax.ts)
 * and the result against its directory (`inside`), so that no `..`, empty or absolute name from a
 * hostile state, journal or `--root` tree can reach a file outside (issue 11, class 1).
 */
import { basename, join } from 'node:path';
import { extensionDir, type HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { isValidName, isValidVersion, parseImageFileName } from '../version/syntax.ts';
import { inside } from './contained.ts';

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

function checkedName(name: string): string {
  if (!isValidName(name))
    throw new AgentError(
      'UNSAFE_PATH',
      `refusing a file name for the invalid extension name ${JSON.stringify(name)}`,
    );
  return name;
}

function checkedVersion(version: string): string {
  if (!isValidVersion(version))
    throw new AgentError(
      'UNSAFE_PATH',
      `refusing a file name for the invalid version ${JSON.stringify(version)}`,
    );
  return version;
}

export function storeDir(paths: HostPaths, name: string): string {
  return inside(paths.imagesDir, checkedName(name));
}

export function imageFileName(name: string, version: string): string {
  return `${checkedName(name)}_${checkedVersion(version)}${IMAGE}`;
}

export function storedImage(paths: HostPaths, name: string, version: string): StoredImage {
  const dir = storeDir(paths, name);
  const stem = `${name}_${checkedVersion(version)}`;
  return {
    image: inside(dir, `${stem}${IMAGE}`),
    hashFile: inside(dir, `${stem}.verity`),
    rootHashFile: inside(dir, `${stem}.roothash`),
  };
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
  return inside(paths.partialDir, `${imageFileName(name, version)}${PART}`);
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
  checkedName(name);
  return {
    image: inside(dir, `${name}${IMAGE}`),
    rootHash: inside(dir, `${name}.roothash`),
    verity: inside(dir, `${name}.verity`),
  };
}

/**
 * The extension name of an activation entry `NAME.raw` (not a temp file), if it is one whose
 * name passes the rules: a listing is input like any other.
 */
export function activationNameOf(fileName: string): string | null {
  if (!fileName.endsWith(IMAGE) || fileName.startsWith('.')) return null;
  const name = fileName.slice(0, -IMAGE.length);
  return isValidName(name) ? name : null;
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
