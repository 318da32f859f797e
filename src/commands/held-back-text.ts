/**
 * Human text shared by `check` and `status` for what a host holds back and why, with the command
 * that changes it, so that an operator reading either knows what to do next.
 */
import type { HeldBack } from '../plan/plan.ts';

/** What an operator can do about a quarantined version (already current: only forget it). */
export function quarantineHint(name: string, version: string, current?: string | null): string {
  const forget = `to forget the quarantine: sysext-agent unquarantine ${name} ${version}`;
  if (version === current) return forget;
  return `to try it again: sysext-agent update ${name}@${version}; ${forget}`;
}

export function heldBackLine(name: string, h: HeldBack, current?: string | null): string {
  const hint = h.cause === 'quarantined' ? ` (${quarantineHint(name, h.version, current)})` : '';
  return `  held back ${h.version}: ${h.reason}${hint}`;
}

export function quarantineLine(
  name: string,
  q: { version: string; reason: string; at: string },
  current?: string | null,
): string {
  const hint = quarantineHint(name, q.version, current);
  return `  quarantined ${q.version} on ${q.at}: ${q.reason} (${hint})`;
}
