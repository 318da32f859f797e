/**
 * Activation entries in /var/lib/extensions or /var/lib/confexts: NAME.raw, a relative symlink
 * into the store, plus optional NAME.roothash / NAME.verity sidecars (systemd looks for them
 * next to the image and then sets up dm-verity). Only these names are ever written there,
 * since systemd treats every *.raw in those directories as an extension.
 */
import { readlink } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { removeDurable, switchSymlink } from './atomic.ts';
import { activationEntries, storedImage, versionOfLinkTarget } from './layout.ts';

function relativeTo(link: string, target: string): string {
  return relative(dirname(link), target);
}

/**
 * Points the activation entries at a stored version. Sidecars are switched before the image
 * link, so that a reader never sees the new image with the old root hash for long; recovery
 * (issue: journal) repairs a crash between the renames.
 */
export async function activate(
  paths: HostPaths,
  kind: ExtensionKind,
  name: string,
  version: string,
  sidecars: boolean,
): Promise<void> {
  const entries = activationEntries(paths, kind, name);
  const stored = storedImage(paths, name, version);
  if (sidecars) {
    await switchSymlink(entries.rootHash, relativeTo(entries.rootHash, stored.rootHashFile));
    await switchSymlink(entries.verity, relativeTo(entries.verity, stored.hashFile));
  } else {
    await removeDurable(entries.rootHash);
    await removeDurable(entries.verity);
  }
  await switchSymlink(entries.image, relativeTo(entries.image, stored.image));
}

export async function deactivate(
  paths: HostPaths,
  kind: ExtensionKind,
  name: string,
): Promise<void> {
  const entries = activationEntries(paths, kind, name);
  await removeDurable(entries.image);
  await removeDurable(entries.rootHash);
  await removeDurable(entries.verity);
}

/** The version the activation symlink points at, or null when there is none. */
export async function activeVersion(
  paths: HostPaths,
  kind: ExtensionKind,
  name: string,
): Promise<string | null> {
  let target: string;
  try {
    target = await readlink(activationEntries(paths, kind, name).image);
  } catch {
    return null;
  }
  return versionOfLinkTarget(name, target);
}
