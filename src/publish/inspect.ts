/**
 * What `publish` learns from inside an image, without root and without mounting it (PRODUCT.md
 * section 5): the file system (by its magic number) and the extension-release file at the place
 * systemd reads it for the kind given, parsed as systemd parses it.
 *
 * The image's files are extracted into a private temp directory by the file system's own tools
 * and read there, never through a symlink on the host: symlinks inside the image are resolved
 * here, within the image's root (as systemd's chase() does with the image as root).
 *
 * - squashfs (squashfs-tools): `unsquashfs` extracts only what is looked at (the two
 *   extension-release directories, then any path a symlink leads to), bounded by -max-depth.
 * - erofs (erofs-utils 1.5): `fsck.erofs --extract` extracts the whole image (it has no way to
 *   extract one path, and dump.erofs has no --cat), checking every file's encoding on the way;
 *   the temp directory needs room for the image's contents (TMPDIR chooses where it is).
 *
 * Every way an image can be wrong is AgentError BAD_IMAGE, naming the cause.
 */
import { lstat, mkdtemp, open, readdir, readFile, readlink, rm, chmod } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import {
  checkedFields,
  field,
  isEmpty,
  releaseFilePath,
  type ExtensionKind,
} from '../compat/fields.ts';
import { parseReleaseFile } from '../compat/release-file.ts';
import { AgentError } from '../errors.ts';
import { execaLazy } from '../util/exec.ts';

export type Filesystem = 'squashfs' | 'erofs';

const SQUASHFS_MAGIC = Buffer.from('hsqs');
const EROFS_MAGIC = 0xe0f5e1e2;
const EROFS_MAGIC_OFFSET = 1024;

/** systemd's chase() gives up after 32 symlinks (CHASE_MAX). */
const MAX_SYMLINKS = 32;
/** A release file is a few lines; the manifest caps each field at 1024 characters anyway. */
const MAX_RELEASE_BYTES = 64 * 1024;

const KINDS: readonly ExtensionKind[] = ['sysext', 'confext'];

export interface ImageRelease {
  filesystem: Filesystem;
  /** Where the release file is, inside the image (releaseFilePath(kind, name)). */
  path: string;
  /** Every field of the file, as systemd parses it. */
  fields: Record<string, string>;
  /** The fields systemd checks at merge time: what the manifest records. */
  checked: Record<string, string>;
}

/** The file system of `file` by its magic number, or null for neither squashfs nor erofs. */
export async function detectFilesystem(file: string): Promise<Filesystem | null> {
  const head = Buffer.alloc(EROFS_MAGIC_OFFSET + 4);
  const handle = await open(file, 'r');
  let length: number;
  try {
    ({ bytesRead: length } = await handle.read(head, 0, head.length, 0));
  } finally {
    await handle.close();
  }
  if (length >= 4 && head.subarray(0, 4).equals(SQUASHFS_MAGIC)) return 'squashfs';
  if (length >= head.length && head.readUInt32LE(EROFS_MAGIC_OFFSET) === EROFS_MAGIC)
    return 'erofs';
  return null;
}

function badImage(file: string, why: string): AgentError {
  return new AgentError('BAD_IMAGE', `${file}: ${why}`);
}

/** An image's files on the host, extracted on demand below `root`. */
interface ExtractedTree {
  readonly root: string;
  /**
   * Extracts `path` (image path; no symlink in it) if the image has it: with `children`, also
   * the entries of the directory it is. A path the image lacks extracts nothing.
   */
  fetch(path: string, children: boolean): Promise<void>;
}

async function run(file: string, tool: string, args: readonly string[], pkg: string) {
  const execa = await execaLazy();
  const result = await execa(tool, args, { reject: false, all: true, stdin: 'ignore' });
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new AgentError(
      'UNSUPPORTED',
      `${tool} is not on PATH (install ${pkg}): publish needs it to read ${file}`,
    );
  }
  return { failed: result.failed, output: String(result.all ?? result.message).trim() };
}

/** Extracts `paths` of a squashfs image below `root`, nothing deeper than `depth` levels. */
async function unsquashfs(
  file: string,
  root: string,
  depth: number,
  paths: readonly string[],
): Promise<void> {
  const r = await run(
    file,
    'unsquashfs',
    [
      '-d',
      root,
      '-f',
      '-q',
      '-n',
      '-no',
      '-no-wildcards',
      '-max-depth',
      String(depth),
      resolvePath(file), // never taken for an option
      ...paths,
    ],
    'squashfs-tools',
  );
  if (r.failed) throw badImage(file, `unsquashfs cannot read it: ${r.output.slice(-500)}`);
}

/** The directory that holds the release files of `kind`. */
function releaseDir(kind: ExtensionKind): string {
  return releaseFilePath(kind, 'x').replace(/\/[^/]*$/, '');
}

async function squashfsTree(file: string, root: string): Promise<ExtractedTree> {
  // The usual case in one call: both release directories with their entries. (-max-depth
  // counts from the image's root: a path's own depth, one more for its children.)
  const dirs = KINDS.map(releaseDir);
  await unsquashfs(file, root, Math.max(...dirs.map((d) => d.split('/').length)) + 1, dirs);
  const fetched = new Set<string>();
  return {
    root,
    async fetch(path, children) {
      const key = `${children ? '+' : '-'}${path}`;
      if (fetched.has(key)) return;
      fetched.add(key);
      await unsquashfs(file, root, path.split('/').length + (children ? 1 : 0), [path]);
    },
  };
}

async function erofsTree(file: string, root: string): Promise<ExtractedTree> {
  const r = await run(
    file,
    'fsck.erofs',
    [`--extract=${root}`, '--no-preserve', resolvePath(file)],
    'erofs-utils',
  );
  // fsck.erofs 1.5 exits 0 after some errors (a bad superblock checksum): its "<E>" lines count.
  if (r.failed || /^<E>/m.test(r.output)) {
    throw badImage(file, `fsck.erofs refuses it: ${r.output.slice(-500)}`);
  }
  return { root, fetch: async () => {} };
}

/** lstat, null when missing; a directory on the way the image made unsearchable is opened. */
async function lstatOrNull(path: string, retry = true): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'EACCES' && retry) {
      await chmod(dirname(path), 0o700);
      return lstatOrNull(path, false);
    }
    throw err;
  }
}

type Resolved =
  { type: 'file' | 'directory' | 'other'; path: string } | { type: 'missing'; path: string };

/**
 * Resolves an image path component by component inside the extracted tree: a symlink's target
 * is read and followed within the image (an absolute one from the image's root, `..` stops at
 * the root), so no host path outside `tree.root` is ever looked at. Directories on the way are
 * made accessible to us (an image may have a mode-000 directory; the copy is ours).
 */
async function resolve(tree: ExtractedTree, file: string, path: string): Promise<Resolved> {
  const split = (p: string) => p.split('/').filter((c) => c !== '' && c !== '.');
  let todo = split(path);
  const done: string[] = [];
  let links = 0;
  if ((await lstatOrNull(tree.root)) === null) return { type: 'missing', path };
  await chmod(tree.root, 0o700);
  while (todo.length > 0) {
    const component = todo.shift() as string;
    if (component === '..') {
      done.pop();
      continue;
    }
    const rel = [...done, component].join('/');
    const host = join(tree.root, rel);
    let st = await lstatOrNull(host);
    if (st === null) {
      await tree.fetch(rel, false);
      st = await lstatOrNull(host);
    }
    if (st === null) return { type: 'missing', path: rel };
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw badImage(file, `too many levels of symbolic links resolving ${path}`);
      }
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo = [...split(target), ...todo];
      continue;
    }
    done.push(component);
    if (st.isDirectory()) {
      await chmod(host, 0o700);
      continue;
    }
    if (todo.length > 0) return { type: 'missing', path: rel };
    return { type: st.isFile() ? 'file' : 'other', path: rel };
  }
  return { type: 'directory', path: done.join('/') };
}

/** The names N of the `extension-release.N` entries in the release directory of `kind`. */
async function releaseNames(
  tree: ExtractedTree,
  file: string,
  kind: ExtensionKind,
): Promise<string[]> {
  const dir = await resolve(tree, file, releaseDir(kind));
  if (dir.type !== 'directory') return [];
  await tree.fetch(dir.path, true);
  const prefix = 'extension-release.';
  return (await readdir(join(tree.root, dir.path)))
    .filter((e) => e.startsWith(prefix) && e.length > prefix.length)
    .map((e) => e.slice(prefix.length))
    .sort();
}

/** Why an image has no release file for `name` at the place for `kind`. */
async function explainMissing(
  tree: ExtractedTree,
  file: string,
  kind: ExtensionKind,
  name: string,
): Promise<AgentError> {
  const want = releaseFilePath(kind, name);
  const other = KINDS.find((k) => k !== kind) as ExtensionKind;
  const elsewhere = await resolve(tree, file, releaseFilePath(other, name));
  if (elsewhere.type === 'file') {
    return badImage(
      file,
      `it is a ${other}, not a ${kind}: its release file is ${releaseFilePath(other, name)} and ` +
        `it has no ${want} (publish it with --kind ${other})`,
    );
  }
  const found: string[] = [];
  for (const k of [kind, other]) {
    for (const n of await releaseNames(tree, file, k)) {
      if (n !== name) found.push(`${releaseFilePath(k, n)} (the ${k} "${n}")`);
    }
  }
  const what =
    found.length === 0
      ? 'it has no extension-release file at all'
      : `it has only ${found.join(', ')}: the image file name must name the extension its release file is for`;
  return badImage(
    file,
    `no ${want} in the image (where systemd-${kind} reads the release of "${name}"); ${what}`,
  );
}

async function readRelease(
  tree: ExtractedTree,
  file: string,
  kind: ExtensionKind,
  name: string,
): Promise<Pick<ImageRelease, 'path' | 'fields'>> {
  const want = releaseFilePath(kind, name);
  const found = await resolve(tree, file, want);
  if (found.type === 'missing') throw await explainMissing(tree, file, kind, name);
  if (found.type !== 'file') {
    throw badImage(
      file,
      `${want} is not a regular file${found.path !== want ? ` (${found.path})` : ''}`,
    );
  }
  const host = join(tree.root, found.path);
  await chmod(host, 0o600);
  const { size } = await lstat(host);
  if (size > MAX_RELEASE_BYTES) {
    throw badImage(
      file,
      `${want} has ${size} bytes; a release file has at most ${MAX_RELEASE_BYTES}`,
    );
  }
  let fields: Record<string, string>;
  try {
    fields = parseReleaseFile(await readFile(host));
  } catch (err) {
    if (err instanceof AgentError) throw badImage(file, `${want}: ${err.message}`);
    throw err;
  }
  return { path: want, fields };
}

/**
 * Removes a temp tree even where the image had directories without read, search or write
 * permission for us: every directory is opened up first (lstat-based, never through a link).
 */
async function removeTree(dir: string): Promise<void> {
  async function openUp(path: string): Promise<void> {
    const st = await lstatOrNull(path);
    if (st === null || !st.isDirectory()) return;
    await chmod(path, 0o700);
    for (const e of await readdir(path)) await openUp(join(path, e));
  }
  await openUp(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Reads the extension-release file of image `file` for extension `name` of `kind`. Refuses
 * (BAD_IMAGE) a file that is neither squashfs nor erofs, an image without the release file at
 * the place systemd reads it for `kind` (naming the kind or the names it has instead), a release
 * file systemd would not parse, and one without ID= (systemd merges such an image nowhere).
 */
export async function readImageRelease(
  file: string,
  name: string,
  kind: ExtensionKind,
): Promise<ImageRelease> {
  const filesystem = await detectFilesystem(file);
  if (filesystem === null) {
    throw badImage(
      file,
      'neither a squashfs image ("hsqs" at offset 0) nor an erofs image (magic 0xE0F5E1E2 at offset 1024)',
    );
  }
  const temp = await mkdtemp(join(tmpdir(), 'sysext-agent-inspect-'));
  try {
    const root = join(temp, 'root');
    const tree =
      filesystem === 'squashfs' ? await squashfsTree(file, root) : await erofsTree(file, root);
    const { path, fields } = await readRelease(tree, file, kind, name);
    if (isEmpty(field(fields, 'ID'))) {
      throw badImage(
        file,
        `${path} has no ID=: systemd-${kind} merges such an image on no host (ID=_any means any OS)`,
      );
    }
    return { filesystem, path, fields, checked: checkedFields(kind, fields) };
  } finally {
    // Best effort: a temp directory left behind must not hide what was wrong with the image.
    await removeTree(temp).catch(() => undefined);
  }
}
