/**
 * Validation problems of a configuration, in words an operator acts on: every unknown field by
 * name (with the closest known one, as a typo usually is), every missing required field, then
 * the rest. zod alone reports a mistyped required key as the required one being of the wrong
 * type ("expected record, received undefined") and does not say which key was unexpected first.
 */
import type { z } from 'zod';
import { didYouMean } from '../util/suggest.ts';
import { configSchema } from './schema.ts';

type Path = readonly PropertyKey[];

interface Def {
  type?: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  valueType?: unknown;
  element?: unknown;
  in?: unknown;
}

function defOf(schema: unknown): Def {
  return ((schema as { def?: Def } | undefined)?.def ?? {}) as Def;
}

/** Through defaults, optionals and transforms to the schema that has the shape. */
function unwrap(schema: unknown): unknown {
  for (let s = schema, depth = 0; depth < 10; depth++) {
    const def = defOf(s);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (inner === undefined) return s;
    s = inner;
  }
  return schema;
}

/** The field names the schema knows at `path` (an object inside the configuration). */
function knownFieldsAt(path: Path): string[] {
  let schema: unknown = configSchema;
  for (const segment of path) {
    const def = defOf(unwrap(schema));
    schema =
      def.type === 'object'
        ? def.shape?.[String(segment)]
        : def.type === 'record'
          ? def.valueType
          : def.type === 'array'
            ? def.element
            : undefined;
  }
  const def = defOf(unwrap(schema));
  return def.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

function valueAt(doc: unknown, path: Path): unknown {
  let v = doc;
  for (const segment of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[segment];
  }
  return v;
}

function fieldName(path: Path): string {
  return path.map(String).join('.');
}

export function describeIssues(doc: unknown, issues: readonly z.core.$ZodIssue[]): string {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return 'the configuration must be a JSON object with at least "repositories" and "extensions"';
  const unknown: string[] = [];
  const missing: string[] = [];
  const other: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length > 0 ? `${fieldName(issue.path)}.` : '';
      const known = knownFieldsAt(issue.path);
      for (const key of issue.keys)
        unknown.push(`unknown field "${prefix}${key}"${didYouMean(key, known)}`);
    } else if (issue.code === 'invalid_type' && valueAt(doc, issue.path) === undefined) {
      missing.push(`missing required field "${fieldName(issue.path)}"`);
    } else {
      const message = issue.message.replace(/^Invalid input: /, '');
      other.push(`field "${fieldName(issue.path) || '(top level)'}": ${message}`);
    }
  }
  const all = [...unknown, ...missing, ...other];
  return all.length > 0 ? all.join('; ') : 'invalid';
}
