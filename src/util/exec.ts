/**
 * The process edge (execa), loaded on first use: a poll that finds nothing new never starts a
 * process, and loading execa costs more start-up time than the rest of such a run.
 */
import type { execa as Execa } from 'execa';

let loaded: typeof Execa | undefined;

export async function execaLazy(): Promise<typeof Execa> {
  loaded ??= (await import('execa')).execa;
  return loaded;
}
