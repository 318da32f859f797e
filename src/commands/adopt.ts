/**
 * Adoption of hand-placed images (PRODUCT.md section 8): provisioning (Ignition, cloud-init, an
 * admin) may put an image as a plain file at an activation path, /var/lib/extensions/NAME.raw.
 * The agent takes it over only when its size, SHA-256 and dm-verity root hash match an image of
 * the verified manifest (promise 1): hard-linked into the store (the same inode, so the merge
 * systemd already did stays proven), then the plain file is replaced by the symlink in one
 * rename. Anything else at that path is left alone, and the run says so.
 */
import { copyFile, link, lstat, readlink } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import type { ExtensionKind, ImageEntry, ManifestPayload } from '../manifest/schema.ts';
import { ensureExtensionState, setResult } from '../plan/state-ops.ts';
import {
  fsyncFile,
  renameDurable,
  switchSymlink,
  tempPathFor,
  writeFileAtomic,
} from '../store/atomic.ts';
import { isStoreLink } from '../store/activation.ts';
import { ownStoreDir, sha256OfFile } from '../store/images.ts';
import { activationEntries, storedImage } from '../store/layout.ts';
import { kindOf } from '../store/nofollow.ts';
import type { AgentState } from '../store/state.ts';
import { verityOfFile } from '../verity/file.ts';
import type { AgentContext } from './context.ts';

export type Adoption = { name: string; adopted: string } | { name: string; leftAlone: string };

/** The manifest image (and its version) with this file's size and SHA-256, if any. */
async function matchOf(
  file: string,
  size: number,
  versions: ManifestPayload['extensions'][string]['versions'],
): Promise<{ version: string; image: ImageEntry } | null> {
  const sameSize = Object.entries(versions).flatMap(([version, e]) =>
    e.images.filter((i) => i.size === size).map((image) => ({ version, image })),
  );
  if (sameSize.length === 0) return null;
  const { sha256 } = await sha256OfFile(file);
  return sameSize.find((c) => c.image.sha256 === sha256) ?? null;
}

/** The same inode in the store when possible (same file system), else a durable copy. */
async function intoStore(file: string, target: string): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await link(file, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(file, tmp);
    await fsyncFile(tmp);
  }
  await renameDurable(tmp, target);
}

async function adoptOne(
  ctx: AgentContext,
  state: AgentState,
  name: string,
  kind: ExtensionKind,
  found: { version: string; image: ImageEntry },
  file: string,
): Promise<void> {
  const { version, image } = found;
  const verity = await verityOfFile(file, {
    salt: Buffer.from(image.verity.salt, 'hex'),
    uuid: image.verity.uuid,
  });
  if (verity.rootHash !== image.verity.rootHash) throw new Error('its dm-verity root hash differs');
  const stored = storedImage(ctx.paths, name, version);
  await ownStoreDir(ctx.paths, name);
  // The hash tree first: a present image in the store always has complete siblings.
  await writeFileAtomic(stored.hashFile, verity.hashFile, 0o644);
  await writeFileAtomic(stored.rootHashFile, `${verity.rootHash}\n`, 0o644);
  await intoStore(file, stored.image);
  await switchSymlink(file, relative(dirname(file), stored.image));
  const ext = ensureExtensionState(state, name, kind);
  ext.current = version;
  setResult(ext, 'adopt', true, ctx.now(), `${version} adopted from a plain file at ${file}`);
}

/**
 * Looks at the activation path of every extension of this run; adopts what matches, reports what
 * is left alone. Returns what it did; the caller writes the state and leaves alone-left
 * extensions out of the run.
 */
export async function adoptPlaced(
  ctx: AgentContext,
  state: AgentState,
  payload: ManifestPayload,
  names: readonly string[],
): Promise<Adoption[]> {
  const done: Adoption[] = [];
  for (const name of names) {
    const ext = Object.hasOwn(payload.extensions, name) ? payload.extensions[name] : undefined;
    if (!ext) continue;
    const file = activationEntries(ctx.paths, ext.kind, name).image;
    const info = await lstat(file).catch(() => null);
    if (!info) continue;
    // A symlink is the agent's when it points into its store; one pointing elsewhere is an
    // administrator's (PRODUCT.md section 8: what is not adopted is left alone, and said so).
    const target = info.isSymbolicLink() ? await readlink(file) : null;
    if (target !== null && isStoreLink(name, target)) continue;
    const what =
      target !== null
        ? `a symbolic link to ${target}, not into the agent's store`
        : info.isFile()
          ? 'a plain file that matches no image of the manifest'
          : `${kindOf(info)}, not an image or a symlink`;
    const found = info.isFile() ? await matchOf(file, info.size, ext.versions) : null;
    if (!found) {
      const leftAlone = `${file} is ${what}; left alone (move it away, or publish it, for the agent to manage ${name})`;
      ctx.log.warn({ name, path: file }, leftAlone);
      done.push({ name, leftAlone });
      continue;
    }
    try {
      await adoptOne(ctx, state, name, ext.kind, found, file);
      ctx.log.info({ name, version: found.version, path: file }, 'adopted a hand-placed image');
      done.push({ name, adopted: found.version });
    } catch (err) {
      const leftAlone = `${file} matches ${name} ${found.version} by SHA-256 but was not adopted: ${(err as Error).message}; left alone`;
      ctx.log.warn({ name, path: file }, leftAlone);
      done.push({ name, leftAlone });
    }
  }
  return done;
}
