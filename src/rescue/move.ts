/**
 * Moving an entry the agent does not manage out of the merge: renamed (never copied, never
 * deleted, a symlink as a symlink) into var/lib/sysext-agent/rescued/KIND/ under a name that
 * collides with nothing moved there before, with its sidecars; both directories fsynced, so the
 * move survives a power loss. Someone put that file there: it stays theirs to restore.
 */
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { fsyncDir } from '../store/atomic.ts';
import { rescuedDir } from '../store/layout.ts';
import { rescuedNames, rescuedStem, sidecarSuffix, type FoundEntry } from './plan.ts';

/** Moves `entry` aside; returns where it went, the entry first, then its sidecars. */
export async function moveAside(paths: HostPaths, entry: FoundEntry): Promise<string[]> {
  const to = rescuedDir(paths, entry.kind);
  const failed = (what: string, err: unknown): AgentError => {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'EXDEV'
        ? `: ${to} is on another file system than ${entry.dir}; move it by hand or mount them together`
        : '';
    return new AgentError(
      'RESCUE_MOVE_FAILED',
      `cannot move ${join(entry.dir, entry.file)} out of the merge (${what}): ${(err as Error).message}${hint}`,
      { cause: err },
    );
  };
  try {
    await mkdir(to, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw failed(`create ${to}`, err);
  }
  const existing = new Set(await readdir(to).catch(() => [] as string[]));
  const suffixes = entry.sidecars.map((s) => sidecarSuffix(entry, s));
  const stem = rescuedStem(entry.file, suffixes, existing);
  const moves = rescuedNames(entry, stem);
  // The image first: it is what breaks the merge; a sidecar left behind is ignored by systemd.
  for (const m of moves) {
    try {
      await rename(join(entry.dir, m.from), join(to, m.to));
    } catch (err) {
      throw failed(`rename to ${join(to, m.to)}`, err);
    }
  }
  await fsyncDir(to);
  await fsyncDir(entry.dir);
  return moves.map((m) => join(to, m.to));
}
