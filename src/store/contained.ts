/**
 * The last guard between a name and the file system: every path the agent builds from a name or
 * version (src/store/layout.ts) is resolved here and refused unless it lies strictly below its
 * directory. Names are checked against the rules where they are read (config, manifest, state,
 * journal, command line); this catches what a check forgot: `..`, an absolute part, an empty
 * name that would make the directory itself the target (`rm -r images/` instead of
 * `images/NAME`), a NUL byte.
 */
import { resolve, sep } from 'node:path';
import { AgentError } from '../errors.ts';

/** `dir/parts...`, resolved, when it is strictly inside `dir`; UNSAFE_PATH otherwise. */
export function inside(dir: string, ...parts: string[]): string {
  const base = resolve(dir);
  const joined = parts.join('/');
  const path = parts.some((p) => p.includes('\0')) ? base : resolve(base, ...parts);
  const prefix = base.endsWith(sep) ? base : base + sep;
  if (path === base || !path.startsWith(prefix))
    throw new AgentError(
      'UNSAFE_PATH',
      `refusing the path ${JSON.stringify(joined)}: it does not stay inside ${base}`,
    );
  return path;
}
