/**
 * The decisions of `rescue`, without I/O: which activation entries are the agent's, which
 * versions may stand in for a broken one, and the name an entry gets when it is moved aside.
 */
import { resolve } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import type { ExtensionKind } from '../manifest/schema.ts';
import { storedImage, versionOfLinkTarget } from '../store/layout.ts';
import type { ExtensionState } from '../store/state.ts';

/** An entry systemd takes from an extension directory, as `./entries.ts` found it. */
export interface FoundEntry {
  kind: ExtensionKind;
  /** The directory that holds it. */
  dir: string;
  /** Its file name: NAME.raw, or NAME for a directory. */
  file: string;
  /** The extension's name, as systemd derives it from the file name. */
  name: string;
  /** What the directory holds under that name (a symlink is not followed). */
  type: 'symlink' | 'file' | 'directory';
  /** A symlink's text. */
  link?: string;
  /** Sidecar file names next to it (NAME.roothash, NAME.verity, ...) that exist. */
  sidecars: string[];
}

/**
 * The stored version an entry activates, when it is the agent's: a symlink NAME.raw that
 * resolves to the store's NAME_VERSION.raw. Anything else (a regular file, a directory, a
 * symlink elsewhere) is not the agent's to quarantine, only to move aside.
 */
export function managedVersion(paths: HostPaths, entry: FoundEntry): string | null {
  if (entry.type !== 'symlink' || entry.link === undefined || entry.file !== `${entry.name}.raw`)
    return null;
  const version = versionOfLinkTarget(entry.name, entry.link);
  if (version === null) return null;
  const target = resolve(entry.dir, entry.link);
  return target === storedImage(paths, entry.name, version).image ? version : null;
}

/**
 * Versions that may replace `broken`, best first: state's current when the links already
 * moved away from it (a rescue cut off between the switch and the state write), then previous.
 * Each must still pass its own trial merge; the caller checks it is stored.
 */
export function standIns(ext: ExtensionState | undefined, broken: string): string[] {
  if (!ext) return [];
  const quarantined = new Set(ext.quarantined.map((q) => q.version));
  const order = [ext.current, ext.previous].filter(
    (v): v is string => v !== null && v !== broken && !quarantined.has(v),
  );
  return [...new Set(order)];
}

/** NAME.raw -> ["NAME", ".raw"]; a directory keeps its whole name as the stem. */
function split(file: string): [string, string] {
  return file.endsWith('.raw') ? [file.slice(0, -'.raw'.length), '.raw'] : [file, ''];
}

/**
 * The stem an entry (and its sidecars) gets in the rescued directory: its own, else STEM.1,
 * STEM.2, ... whichever collides with nothing already there. Nothing moved aside earlier is
 * ever overwritten.
 */
export function rescuedStem(
  file: string,
  sidecarSuffixes: readonly string[],
  existing: ReadonlySet<string>,
): string {
  const [stem, ext] = split(file);
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? stem : `${stem}.${n}`;
    const names = [candidate + ext, ...sidecarSuffixes.map((s) => candidate + s)];
    if (!names.some((x) => existing.has(x))) return candidate;
  }
}

/** The sidecar suffix of `sidecar` next to `entry` (hello.roothash -> .roothash). */
export function sidecarSuffix(entry: FoundEntry, sidecar: string): string {
  return sidecar.slice(entry.name.length);
}

/** The file names an entry has after the move: `STEM.raw` plus the sidecars' suffixes. */
export function rescuedNames(entry: FoundEntry, stem: string): { from: string; to: string }[] {
  const [, ext] = split(entry.file);
  return [
    { from: entry.file, to: stem + ext },
    ...entry.sidecars.map((s) => ({ from: s, to: stem + sidecarSuffix(entry, s) })),
  ];
}
