/**
 * Records keyed by extension names and versions (state, journal, manifest). `constructor`,
 * `toString`, `valueOf`, `hasOwnProperty` and the other members of Object.prototype pass the name
 * rule; in a plain object `extensions["constructor"]` is a function, not undefined, and
 * `"toString" in extensions` is true (issue 11, class 3: such a name crashed every later run).
 * Records parsed at a schema boundary are therefore copied into null-prototype objects, where
 * only own entries exist, and lookups elsewhere go through `own`.
 */

/** A copy of `record` without a prototype: every key is its own entry, nothing is inherited. */
export function ownRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of Object.entries(record)) out[key] = value;
  return out;
}

/** An empty record without a prototype. */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `record[key]` when it is the record's own entry, never an inherited member. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Thrown by `parseJsonRecords` for a `__proto__` key. */
export class ProtoKeyError extends TypeError {
  constructor() {
    super('a key named __proto__');
    this.name = 'ProtoKeyError';
  }
}

/**
 * JSON.parse for documents whose keys are names: a `__proto__` key is never a name, and while
 * JSON.parse keeps it as an own key, zod drops it silently and `{...doc}` turns it into a
 * prototype. Refused here (ProtoKeyError). The reviver only runs when the text could spell
 * the key (literally or with `\u` escapes): it costs as much as the parse itself.
 */
export function parseJsonRecords(text: string): unknown {
  if (!text.includes('__proto__') && !text.includes('\\u')) return JSON.parse(text);
  return JSON.parse(text, (key, value: unknown) => {
    if (key === '__proto__') throw new ProtoKeyError();
    return value;
  });
}
