/**
 * Fuzzing the configuration loader (issue 11, PRODUCT.md section 4): arbitrary text, arbitrary
 * JSON, and valid configurations with values replaced anywhere, members deleted and keys renamed
 * to hostile names (`__proto__`, `constructor`, `..`): parseConfig gives a deeply frozen valid
 * configuration or a CONFIG error naming the file; never another error, never a crash. An
 * accepted configuration names only valid extensions, each an own member.
 * 10,000 cases per property per run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { AgentError } from '../../src/errors.ts';
import { isValidName } from '../../src/version/syntax.ts';
import { HOSTILE, mutate, mutationArb } from './mutate.ts';

const RUNS = { numRuns: 10_000 };
const FILE = '/fuzz/config.json';

const VALID = {
  repositories: ['https://updates.example.com/stable/', '/media/usb/repo', 'file:///srv/repo'],
  trustedKeys: '/etc/sysext-agent/keys',
  threshold: 1,
  extensions: {
    hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 30, pin: '2.1' },
    'site-config': {},
  },
  keep: 2,
  veritySidecars: true,
  refresh: true,
  metrics: '/var/lib/node_exporter/sysext-agent.prom',
  network: { connectTimeoutSec: 15, idleTimeoutSec: 30, attempts: 5, maxTotalSec: 900 },
};

function deeplyFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  return Object.isFrozen(v) && Object.values(v).every(deeplyFrozen);
}

/** A valid frozen config, or a CONFIG (or USAGE) error naming the file: nothing else. */
function check(text: string): void {
  let config;
  try {
    config = parseConfig(text, FILE);
  } catch (err) {
    expect(err, String(err)).toBeInstanceOf(AgentError);
    expect(['CONFIG', 'USAGE']).toContain((err as AgentError).code);
    expect((err as Error).message).toContain(FILE);
    return;
  }
  expect(deeplyFrozen(config)).toBe(true);
  expect(config.repositories.length).toBeGreaterThan(0);
  expect(Number.isInteger(config.threshold) && config.threshold >= 1).toBe(true);
  expect(Number.isInteger(config.keep) && config.keep >= 2).toBe(true);
  for (const name of Object.keys(config.extensions)) {
    expect(isValidName(name), name).toBe(true);
    expect(Object.hasOwn(config.extensions, name)).toBe(true);
  }
  // Re-reading what was accepted gives the same configuration.
  expect(parseConfig(JSON.stringify(config), FILE)).toEqual(config);
}

describe('fuzz: configuration loader', () => {
  it('the valid base is accepted', () => {
    expect(parseConfig(JSON.stringify(VALID), FILE).threshold).toBe(1);
  });

  it('arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => check(text)),
      RUNS,
    );
  });

  it('arbitrary JSON values and objects with config-like keys', () => {
    const key = fc.constantFrom(...Object.keys(VALID), ...HOSTILE);
    const doc = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }),
    );
    fc.assert(
      fc.property(doc, (d) => check(JSON.stringify(d))),
      RUNS,
    );
  });

  it('valid configurations mutated (values, deletions, hostile keys)', () => {
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (ms) =>
        check(mutate(VALID, ms)),
      ),
      RUNS,
    );
  });

  it('hostile extension names: refused with CONFIG naming the field, or valid own members', () => {
    fc.assert(
      fc.property(fc.constantFrom(...HOSTILE), (name) => {
        const text = JSON.stringify({ ...VALID, extensions: {} }).replace(
          '"extensions":{}',
          `"extensions":{${JSON.stringify(name)}:{}}`,
        );
        check(text);
      }),
      { numRuns: 200 },
    );
  });
});
