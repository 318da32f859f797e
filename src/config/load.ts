/** Reads and validates the configuration once, into a deeply frozen object. */
import { readFile } from 'node:fs/promises';
import { AgentError } from '../errors.ts';
import { describeIssues } from './issues.ts';
import { configSchema, type Config } from './schema.ts';
import { ONE_SHOT } from './one-shot.ts';
import { parseJsonRecords, ProtoKeyError } from '../version/own-record.ts';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function parseConfig(text: string, source: string): Readonly<Config> {
  let doc: unknown;
  try {
    // A `__proto__` key is refused, not dropped (issue 11, class 3): it is never a valid name.
    doc = parseJsonRecords(text);
  } catch (err) {
    if (err instanceof ProtoKeyError)
      throw new AgentError('CONFIG', `${source}: a key named "__proto__" is never a valid name`);
    throw new AgentError('CONFIG', `${source}: not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  const parsed = configSchema.safeParse(doc, ONE_SHOT);
  if (!parsed.success) {
    throw new AgentError('CONFIG', `${source}: ${describeIssues(doc, parsed.error.issues)}`);
  }
  return deepFreeze(parsed.data);
}

export async function loadConfig(file: string): Promise<Readonly<Config>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    const reason =
      errno === 'ENOENT'
        ? 'file not found (write one with at least "repositories" and "extensions", or give --config FILE)'
        : errno === 'EACCES' || errno === 'EPERM'
          ? 'permission denied (run it as root, or give --config FILE you can read)'
          : (err as Error).message;
    throw new AgentError('CONFIG', `configuration ${file}: ${reason}`, { cause: err });
  }
  return parseConfig(text, file);
}
