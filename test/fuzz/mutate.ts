/**
 * Mutations of valid JSON documents for the loader fuzz tests (test/fuzz/*.test.ts): replace a
 * value anywhere with arbitrary JSON or a hostile string, delete a member, or rename a key to a
 * hostile name (`__proto__` included, as an own key, the way JSON.parse makes it).
 */
import fc from 'fast-check';

/** Names and versions an attacker would try: traversal, empty, absolute, Object members. */
export const HOSTILE = [
  '',
  '.',
  '..',
  '../x',
  '../../../../../victim',
  '/etc/passwd',
  'a/b',
  'a\0b',
  'a_b',
  '-a',
  '~1',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'x'.repeat(129),
  'hello',
  '1.0',
] as const;

/** The Object.prototype members that pass the name rule. */
export const OBJECT_MEMBERS = [
  'constructor',
  'toString',
  'toLocaleString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
] as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type Mutation =
  | { op: 'set'; at: number; value: unknown }
  | { op: 'delete'; at: number }
  | { op: 'rename'; at: number; key: string };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...HOSTILE)),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('rename' as const),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 6 })),
  }),
);

/** Every container member of `doc`, as [container, key] pairs, depth first. */
function members(doc: Json): [Json[] | { [k: string]: Json }, string | number][] {
  const out: [Json[] | { [k: string]: Json }, string | number][] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v))
      v.forEach((x, i) => {
        out.push([v, i]);
        walk(x);
      });
    else if (v !== null && typeof v === 'object')
      for (const k of Object.keys(v)) {
        out.push([v, k]);
        walk(v[k] as Json);
      }
  };
  walk(doc);
  return out;
}

/** `doc` (a fresh copy) with the mutations applied, as JSON text. */
export function mutate(doc: unknown, mutations: readonly Mutation[]): string {
  const copy = JSON.parse(JSON.stringify(doc)) as Json;
  for (const m of mutations) {
    const all = members(copy);
    if (all.length === 0) break;
    const [container, key] = all[m.at % all.length] as (typeof all)[number];
    if (m.op === 'set') (container as Record<string, unknown>)[key] = m.value;
    else if (Array.isArray(container)) container.splice(key as number, 1);
    else if (m.op === 'delete') delete container[key];
    else {
      const value = container[key];
      delete container[key];
      // defineProperty: `container["__proto__"] = v` would set the prototype, not a key.
      Object.defineProperty(container, m.key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return JSON.stringify(copy);
}

/** Text that is rarely JSON: strings, and bytes read as UTF-8 (a loader reads a file as that). */
export const arbitraryText = fc.oneof(
  fc.string(),
  fc.uint8Array().map((b) => Buffer.from(b).toString('utf8')),
);

/**
 * How many documents a loader accepted and refused, so that each property can assert it saw
 * what it is about: the check function counts into `seen`, `counted` runs a property from zero.
 */
export function tally(): {
  seen: { accepted: number; refused: number };
  counted(run: () => void): { accepted: number; refused: number };
} {
  const seen = { accepted: 0, refused: 0 };
  return {
    seen,
    counted(run) {
      seen.accepted = 0;
      seen.refused = 0;
      run();
      return { ...seen };
    },
  };
}
