/**
 * Why a version is held back, in words an operator can act on: a rollout the host is outside of,
 * a quarantine (with its reason and date from state.json). Pure; used by the plan.
 */
import type { HeldBack, PlanInput, QuarantineNote } from './plan.ts';
import { rolloutBucket } from './rollout.ts';

export function rolloutReason(input: PlanInput, name: string, version: string, percent: number) {
  if (percent >= 100) return null;
  if (!input.machineId) return `held back by rollout (${percent}%): this host has no machine id`;
  const bucket = rolloutBucket(input.machineId, name, version);
  return bucket < percent ? null : `held back by rollout (bucket ${bucket}, rollout ${percent}%)`;
}

/** The quarantine entry of `version`, if any (a bare version string: reason unknown). */
export function quarantineNoteOf(
  input: Pick<PlanInput, 'quarantined'>,
  name: string,
  version: string,
): QuarantineNote | null {
  for (const q of input.quarantined(name)) {
    if (typeof q === 'string') {
      if (q === version) return { version, reason: '', at: '' };
    } else if (q.version === version) return q;
  }
  return null;
}

export function quarantineHold(q: QuarantineNote): Omit<HeldBack, 'version'> {
  const when = q.at ? ` on ${q.at}` : '';
  const why = q.reason ? `: ${q.reason}` : '';
  return {
    cause: 'quarantined',
    reason: `quarantined${when}${why}`,
    ...(q.reason || q.at ? { quarantine: { reason: q.reason, at: q.at } } : {}),
  };
}
