/**
 * Activation entries in /var/lib/extensions or /var/lib/confexts: NAME.raw, a relative symlink
 * into the store, plus optional NAME.roothash / NAME.verity sidecars (systemd looks for them
 * next to the image and then sets up dm-verity). Only these names are ever written there,
 * since systemd treats every *.raw in those directories as an extension.
 *
 * Only entries the agent made are replaced or removed (issue 11, class 7): at NAME.raw a
 * symlink into images/NAME/; anything else there (a hand-placed image that was not adopted, a
 * directory, a symlink an administrator pointed elsewhere) is left as it is, FOREIGN_ENTRY. A
 * sidecar may be a plain file (provisioning places one with a hand-placed image, which adoption
 * then takes over), but never a directory, which rename(2) could not replace anyway.
 */
import { readlink } from 'node:fs/promises';
import { basename, dirname, relative } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { removeDurable, switchSymlink } from './atomic.ts';
import { activationEntries, storedImage, versionOfLinkTarget } from './layout.ts';
import { foreign, kindOf, lstatOrNull } from './nofollow.ts';

function relativeTo(link: string, target: string): string {
  return relative(dirname(link), target);
}

/** True when `target` (a link's) names a stored image of `name`: images/NAME/NAME_VERSION.raw. */
export function isStoreLink(name: string, target: string): boolean {
  const dir = dirname(target);
  return (
    versionOfLinkTarget(name, target) !== null &&
    basename(dir) === name &&
    basename(dirname(dir)) === 'images'
  );
}

/**
 * FOREIGN_ENTRY unless what sits at the activation entries of NAME (if anything) is the agent's
 * to replace: called before a run changes anything (stage), and again before each switch.
 */
export async function checkActivation(
  paths: HostPaths,
  kind: ExtensionKind,
  name: string,
): Promise<void> {
  const entries = activationEntries(paths, kind, name);
  try {
    await checkOwnEntries(entries, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    throw new AgentError(
      'FOREIGN_ENTRY',
      `${dirname(entries.image)} is not a directory (a file is in the way); left as it is: move it away`,
      { cause: err },
    );
  }
}

async function checkOwnEntries(
  entries: {
    image: string;
    rootHash: string;
    verity: string;
  },
  name: string,
): Promise<void> {
  const image = await lstatOrNull(entries.image);
  if (image && !image.isSymbolicLink())
    throw foreign(
      entries.image,
      kindOf(image),
      'an activation symlink',
      image.isFile()
        ? 'a hand-placed image is adopted by `update` only when it matches the manifest'
        : 'move it away',
    );
  if (image && !isStoreLink(name, await readlink(entries.image)))
    throw foreign(
      entries.image,
      `a symbolic link to ${await readlink(entries.image)}`,
      'an activation symlink into the store',
      'remove it to let the agent manage ' + name,
    );
  for (const sidecar of [entries.rootHash, entries.verity]) {
    const info = await lstatOrNull(sidecar);
    if (info?.isDirectory()) throw foreign(sidecar, 'a directory', 'a sidecar', 'move it away');
  }
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
  await checkActivation(paths, kind, name);
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
  await checkActivation(paths, kind, name);
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
