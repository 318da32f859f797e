/** Durations of PRODUCT.md section 5: a whole number with a unit, `90s`, `15m`, `12h`, `30d`. */
import { AgentError } from '../errors.ts';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export function parseDuration(text: string): number {
  const match = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (!match)
    throw new AgentError(
      'USAGE',
      `invalid duration "${text}": use a number with a unit, e.g. 90s, 15m, 12h, 30d`,
    );
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms <= 0) throw new AgentError('USAGE', `invalid duration "${text}": must be positive`);
  return ms;
}
