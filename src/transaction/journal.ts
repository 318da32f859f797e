/**
 * The transaction journal (PRODUCT.md promise 2): before each step that changes the host, the
 * journal names the step and everything recovery needs (the moves, the phase, the failures, the
 * refresh and sidecar settings), written atomically. `recover` reads only this file and the
 * state, never the configuration, so it can run at boot before anything else.
 *
 * Read back, the journal is input like any other: every name and version must pass the rules
 * (PRODUCT.md section 3) and every step be one the agent writes, or the whole journal is refused
 * (STATE_CORRUPT, nothing touched). A journal naming `../../x` or "" would otherwise steer
 * `recover` into deleting outside the store (issue 11, class 1).
 */
import { rm } from 'node:fs/promises';
import { readSmallFile } from '../store/nofollow.ts';
import { join } from 'node:path';
import { z } from 'zod';
import type { HostPaths } from '../config/paths.ts';
import { AgentError } from '../errors.ts';
import { extensionName, versionString } from '../manifest/schema.ts';
import { fsyncDir, writeFileAtomic } from '../store/atomic.ts';
import { ownRecord, parseJsonRecords, ProtoKeyError } from '../version/own-record.ts';
import { isValidName } from '../version/syntax.ts';

const move = z.object({
  name: extensionName,
  kind: z.enum(['sysext', 'confext']),
  from: versionString.nullable(),
  to: versionString.nullable(),
  /**
   * Whether `from` was live with verity sidecars when the transaction began: the way back
   * restores it exactly as it was, whatever `veritySidecars` says now. Absent in journals
   * written before this field existed (then the journal's `sidecars` applies).
   */
  fromSidecars: z.boolean().optional(),
});

/** The steps of ./steps.ts and ./run.ts: fixed ones, or `switch:NAME` and the like. */
const FIXED_STEPS = new Set([
  'begin',
  'refresh',
  'prove',
  'revert-refresh',
  'revert-prove',
  'record-failure',
  'commit',
]);

function isStep(step: string): boolean {
  const named = /^(switch|revert|health):(.*)$/.exec(step);
  return FIXED_STEPS.has(step) || (named !== null && isValidName(named[2] as string));
}

const journalSchema = z.object({
  schema: z.literal(1),
  command: z.enum(['update', 'rollback', 'remove']),
  /** forward: switching to `to`; back: returning to `from` after a failure; commit: `to` proven. */
  phase: z.enum(['forward', 'back', 'commit']),
  step: z.string().refine(isStep, 'not a step of a transaction'),
  moves: z
    .array(move)
    .refine((ms) => new Set(ms.map((m) => m.name)).size === ms.length, 'a name moves twice'),
  /** Why the forward steps failed, per extension (null-prototype: keys are names). */
  failures: z.record(extensionName, z.string()).transform((r) => ownRecord(r)),
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

const JOURNAL_MAX_BYTES = 1024 * 1024;

export async function readJournal(paths: HostPaths): Promise<Journal | null> {
  let text: string;
  try {
    // Never through a symlink, never more than a journal can be (a planted /dev/zero link).
    const read = await readSmallFile(journalPath(paths), JOURNAL_MAX_BYTES);
    if (read === null) return null;
    text = read;
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError('IO', `cannot read ${journalPath(paths)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseJournal(text, journalPath(paths));
}

/**
 * Parses the text of a journal (`file` only names it in messages). Pure: no I/O. A `__proto__`
 * key is refused (JSON.parse keeps it as an own key, zod would drop it silently).
 */
export function parseJournal(text: string, file: string): Journal {
  let why: string;
  try {
    const parsed = journalSchema.safeParse(parseJsonRecords(text));
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    why = `${issue?.path.join('.')} ${issue?.message}`;
  } catch (err) {
    why = err instanceof ProtoKeyError ? err.message : 'not JSON';
  }
  // Written only by atomic rename, so a bad journal was not written by this agent.
  throw new AgentError(
    'STATE_CORRUPT',
    `journal ${file} is not valid (${why}); inspect it and remove it by hand`,
  );
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
