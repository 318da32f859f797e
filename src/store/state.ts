/**
 * state.json (PRODUCT.md section 2): what is current, previous and quarantined per extension,
 * and the highest manifest serial accepted. Written atomically; validated when read.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
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
  interrupted: z.record(z.string(), z.number().int().nonnegative()).default({}),
  lastResult: z
    .object({ at: z.string(), action: z.string(), ok: z.boolean(), message: z.string().optional() })
    .nullable()
    .default(null),
});

const stateSchema = z.object({
  schema: z.literal(1),
  manifest: z
    .object({ serial: z.number().int().nonnegative(), expires: z.string(), acceptedAt: z.string() })
    .nullable(),
  extensions: z.record(z.string(), extensionState),
});

export type AgentState = z.infer<typeof stateSchema>;
export type ExtensionState = z.infer<typeof extensionState>;

export function emptyState(): AgentState {
  return { schema: 1, manifest: null, extensions: {} };
}

export async function readState(file: string): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw new AgentError('IO', `cannot read state ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AgentError('STATE_CORRUPT', `state ${file} is not valid JSON`, { cause: err });
  }
  const parsed = stateSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AgentError(
      'STATE_CORRUPT',
      `state ${file} is not valid: ${issue?.path.join('.')} ${issue?.message}`,
    );
  }
  return parsed.data;
}

export async function writeState(file: string, state: AgentState): Promise<void> {
  stateSchema.parse(state);
  await writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n', 0o644);
}
