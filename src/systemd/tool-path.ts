/**
 * Where a systemd tool is looked for: each directory of PATH in order, as execvp(3) searches
 * (empty entries skipped; /usr/bin:/bin when PATH is unset).
 */
import { join } from 'node:path';

/** `name` in every PATH directory, in the order execvp(3) tries them. */
export function toolCandidates(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PATH ?? '/usr/bin:/bin')
    .split(':')
    .filter(Boolean)
    .map((dir) => join(dir, name));
}
