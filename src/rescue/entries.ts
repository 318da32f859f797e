/**
 * What an extension directory holds, as systemd would take it (src/shared/discover-image.c:
 * NAME.raw that is a regular file or block device once symlinks are followed, and directories;
 * dangling links, sidecars and dot files are not extensions), and how a trial shows an entry.
 */
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ExtensionKind } from '../manifest/schema.ts';
import type { TrialFile } from '../systemd/port.ts';
import { SIDECAR_SUFFIXES } from '../systemd/search-path.ts';
import type { FoundEntry } from './plan.ts';

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

export async function listEntries(dir: string, kind: ExtensionKind): Promise<FoundEntry[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  const found: FoundEntry[] = [];
  for (const file of names) {
    // Dot files are the agent's temp files (recover removes them), never activation entries.
    if (file.startsWith('.')) continue;
    const path = join(dir, file);
    const [own, target] = await Promise.all([lstat(path), stat(path).catch(() => null)]);
    if (target === null) continue;
    const isImage = file.endsWith('.raw') && (target.isFile() || target.isBlockDevice());
    if (!isImage && !target.isDirectory()) continue;
    const name = isImage ? file.slice(0, -'.raw'.length) : file;
    const sidecars: string[] = [];
    if (isImage)
      for (const s of SIDECAR_SUFFIXES)
        if (await exists(join(dir, name + s))) sidecars.push(name + s);
    found.push({
      kind,
      dir,
      file,
      name,
      type: own.isSymbolicLink() ? 'symlink' : own.isDirectory() ? 'directory' : 'file',
      ...(own.isSymbolicLink() ? { link: await readlink(path) } : {}),
      sidecars,
    });
  }
  return found;
}

function inside(path: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(d.endsWith(sep) ? d : d + sep));
}

/**
 * The files that show `entry` alone in a trial, as the directory holds them: a symlink keeps its
 * text (systemd follows it, or with --root may not: the trial does as systemd does), unless it
 * leads into a directory the trial hides; then the file it leads to is shown instead.
 */
export async function trialFiles(
  entry: FoundEntry,
  hiddenDirs: readonly string[],
): Promise<TrialFile[]> {
  const hidden = await Promise.all(hiddenDirs.map((d) => realpath(d).catch(() => d)));
  const files: TrialFile[] = [];
  for (const name of [entry.file, ...entry.sidecars]) {
    const path = join(entry.dir, name);
    const info = await lstat(path);
    if (info.isSymbolicLink()) {
      const link = await readlink(path);
      const real = await realpath(path).catch(() => null);
      if (real === null || !inside(real, hidden)) {
        files.push({ name, link });
        continue;
      }
      files.push({ name, source: real, directory: (await stat(real)).isDirectory() });
    } else files.push({ name, source: path, directory: info.isDirectory() });
  }
  return files;
}

/** A stored version shown as `activate` would link it (relative, sidecars when used). */
export function linkedFiles(
  dir: string,
  name: string,
  image: string,
  sidecars: { rootHash: string; verity: string } | null,
): TrialFile[] {
  // Relative to the link's directory, as src/store/activation.ts writes it.
  const rel = (target: string) => relative(dir, target);
  return [
    { name: `${name}.raw`, link: rel(image) },
    ...(sidecars
      ? [
          { name: `${name}.roothash`, link: rel(sidecars.rootHash) },
          { name: `${name}.verity`, link: rel(sidecars.verity) },
        ]
      : []),
  ];
}
