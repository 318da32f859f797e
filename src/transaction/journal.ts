/**
 * The transaction journal (PRODUCT.md promise 2): before each step that changes the host, the
 * journal names the step and everything recovery needs (the moves, the phase, the failures, the
 * refresh and sidecar settings), written atomically. `recover` reads only this file and the
 * state, never the configuration, so it can run at boot before anything else.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { fsyncDir, writeFileAtomic } from '../store/atomic.ts';

const move = z.object({
  name: z.string(),
  kind: z.enum(['sysext', 'confext']),
  from: z.string().nullable(),
  to: z.string().nullable(),
  /**
   * Whether `from` was live with verity sidecars when the transaction began: the way back
   * restores it exactly as it was, whatever `veritySidecars` says now. Absent in journals
   * written before this field existed (then the journal's `sidecars` applies).
   */
  fromSidecars: z.boolean().optional(),
});

const journalSchema = z.object({
  schema: z.literal(1),
  command: z.enum(['update', 'rollback', 'remove']),
  /** forward: switching to `to`; back: returning to `from` after a failure; commit: `to` proven. */
  phase: z.enum(['forward', 'back', 'commit']),
  step: z.string(),
  moves: z.array(move),
  /** Why the forward steps failed, per extension. */
  failures: z.record(z.string(), z.string()),
  /** The error code of those failures: a merge that could not be proven, or a health check. */
  failureCode: z.enum(['MERGE_FAILED', 'HEALTH_FAILED']).optional(),
  sidecars: z.boolean(),
  refresh: z.boolean(),
  root: z.string().nullable(),
  startedAt: z.string(),
});

export type Journal = z.infer<typeof journalSchema>;
export type Move = z.infer<typeof move>;
export type Command = Journal['command'];

export function journalPath(paths: HostPaths): string {
  return join(paths.stateDir, 'journal.json');
}

export async function readJournal(paths: HostPaths): Promise<Journal | null> {
  let text: string;
  try {
    text = await readFile(journalPath(paths), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AgentError('IO', `cannot read ${journalPath(paths)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let parsed;
  try {
    parsed = journalSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = { success: false as const };
  }
  if (!parsed.success) {
    // Written only by atomic rename, so a bad journal was not written by this agent.
    throw new AgentError(
      'STATE_CORRUPT',
      `journal ${journalPath(paths)} is not valid; inspect it and remove it by hand`,
    );
  }
  return parsed.data;
}

/** Records `step` (and the journal's current phase and failures) before the step is done. */
export async function journalStep(paths: HostPaths, journal: Journal, step: string): Promise<void> {
  journal.step = step;
  await writeFileAtomic(journalPath(paths), JSON.stringify(journal, null, 2) + '\n');
}

export async function endJournal(paths: HostPaths): Promise<void> {
  await rm(journalPath(paths), { force: true });
  await fsyncDir(paths.stateDir);
}
