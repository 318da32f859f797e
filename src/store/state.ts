/**
 * state.json (PRODUCT.md section 2): what is current, previous and quarantined per extension,
 * and the highest manifest serial accepted. Written atomically; validated when read.
 *
 * Two ways a state can be bad. Broken (not JSON, a field of the wrong type, a truncated write
 * on a file system without barriers): `loadState` moves it aside and rebuilds it from disk.
 * Hostile (well formed, but an extension name or version that breaks the rules of PRODUCT.md
 * section 3, such as `../../x` or "", or a `__proto__` key): this agent validates everything
 * it writes, so someone else wrote it (an untrusted `--root` tree, a planted file). It is
 * refused as STATE_CORRUPT and nothing is touched: the names in it are never joined into paths.
 */
import { readSmallFile } from './nofollow.ts';
import { z } from 'zod';
import { ONE_SHOT } from '../config/one-shot.ts';
import { AgentError } from '../errors.ts';
import { emptyRecord, ownRecord, parseJsonRecords, ProtoKeyError } from '../version/own-record.ts';
import { isValidName, isValidVersion } from '../version/syntax.ts';
import { writeFileAtomic } from './atomic.ts';

const quarantineEntry = z.object({
  version: z.string(),
  reason: z.string(),
  at: z.string(),
  /**
   * Whether the version was ever current here. false: it never proved healthy, so `vacuum` may
   * delete its image; absent (states written before this field): treated as true.
   */
  activated: z.boolean().optional(),
});

const extensionState = z.object({
  kind: z.enum(['sysext', 'confext']),
  current: z.string().nullable(),
  previous: z.string().nullable(),
  quarantined: z.array(quarantineEntry).default([]),
  /** Per version: how often a run was cut off while that version was live but not yet proven. */
  interrupted: z
    .record(z.string(), z.number().int().nonnegative())
    .default({})
    .transform((r) => ownRecord(r)),
  lastResult: z
    .object({ at: z.string(), action: z.string(), ok: z.boolean(), message: z.string().optional() })
    .nullable()
    .default(null),
});

const stateSchema = z.object({
  schema: z.literal(1),
  manifest: z
    .object({
      serial: z.number().int().nonnegative(),
      expires: z.string(),
      acceptedAt: z.string(),
      // SHA-256 of the payload accepted with `serial`: a copy with the same serial and other
      // bytes is a fork (src/commands/manifest-fork.ts). Absent in states written before it.
      payloadSha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .optional(),
    })
    .nullable(),
  // Null-prototype: an extension named `constructor` is found only when it is there.
  extensions: z.record(z.string(), extensionState).transform((r) => ownRecord(r)),
});

export type AgentState = z.infer<typeof stateSchema>;
export type ExtensionState = z.infer<typeof extensionState>;

export function emptyState(): AgentState {
  return { schema: 1, manifest: null, extensions: emptyRecord() };
}

/** The first extension name or version in `state` that breaks the rules, described; or null. */
export function unsafeEntryOf(state: AgentState): string | null {
  for (const [name, ext] of Object.entries(state.extensions)) {
    if (!isValidName(name)) return `extension name ${JSON.stringify(name)}`;
    const versions = [
      ext.current,
      ext.previous,
      ...ext.quarantined.map((q) => q.version),
      ...Object.keys(ext.interrupted),
    ];
    for (const v of versions)
      if (v !== null && !isValidVersion(v))
        return `version ${JSON.stringify(v)} of extension ${name}`;
  }
  return null;
}

/** A state file that cannot be used; `hostile`: well formed but with names that break the rules. */
export interface StateProblem {
  error: AgentError;
  hostile: boolean;
}

/** Parses the text of a state file (`file` only names it in messages). Pure: no I/O. */
export function parseState(text: string, file: string): AgentState | StateProblem {
  let doc: unknown;
  try {
    doc = parseJsonRecords(text);
  } catch (err) {
    const proto = err instanceof ProtoKeyError;
    return {
      error: new AgentError(
        'STATE_CORRUPT',
        proto
          ? `state ${file} has a key named __proto__, which is never an extension name or version; inspect it and remove it by hand`
          : `state ${file} is not valid JSON`,
        { cause: err },
      ),
      hostile: proto,
    };
  }
  const parsed = stateSchema.safeParse(doc, ONE_SHOT);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      error: new AgentError(
        'STATE_CORRUPT',
        `state ${file} is not valid: ${issue?.path.join('.')} ${issue?.message}`,
      ),
      hostile: false,
    };
  }
  const unsafe = unsafeEntryOf(parsed.data);
  if (unsafe !== null)
    return {
      error: new AgentError(
        'STATE_CORRUPT',
        `state ${file} names the ${unsafe}, which breaks the rules for names and versions; it was not written by this agent: inspect it and remove it by hand`,
      ),
      hostile: true,
    };
  return parsed.data;
}

export function isStateProblem(x: AgentState | StateProblem): x is StateProblem {
  return 'error' in x && x.error instanceof AgentError;
}

/** A state of thousands of extensions is far below this. */
const STATE_MAX_BYTES = 4 * 1024 * 1024;

/** The state, or the problem with it; a missing file is the empty state. */
export async function inspectState(file: string): Promise<AgentState | StateProblem> {
  let text: string;
  try {
    // Never through a symlink, never more than a state can be (a planted /dev/zero link).
    const read = await readSmallFile(file, STATE_MAX_BYTES);
    if (read === null) return emptyState();
    text = read;
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError('IO', `cannot read state ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseState(text, file);
}

export async function readState(file: string): Promise<AgentState> {
  const result = await inspectState(file);
  if (isStateProblem(result)) throw result.error;
  return result;
}

export async function writeState(file: string, state: AgentState): Promise<void> {
  stateSchema.parse(state, ONE_SHOT);
  const unsafe = unsafeEntryOf(state);
  if (unsafe !== null)
    throw new AgentError('UNSAFE_PATH', `refusing to record the ${unsafe} in ${file}`);
  await writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n', 0o644);
}
