/**
 * The one map from error code to exit code (PRODUCT.md section 5), and a guard that every code
 * is asserted by some test: a code nobody can reach is dead, and one nobody checks can drift.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, exitCodeFor, type AgentErrorCode } from '../src/errors.ts';
import { PROJECT } from './helpers/cli.ts';

/** The contract's meaning of each exit code, and the codes that carry it. */
const CONTRACT: Record<number, AgentErrorCode[]> = {
  2: ['USAGE', 'CONFIG'],
  3: ['MERGE_FAILED', 'HEALTH_FAILED'],
  4: ['ROLLBACK_FAILED', 'COMMIT_FAILED', 'RESCUE_INCOMPLETE', 'RESCUE_MOVE_FAILED'],
  75: ['LOCKED'],
};

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? testFiles(join(dir, e.name))
      : e.name.endsWith('.test.ts') && e.name !== 'errors.test.ts'
        ? [join(dir, e.name)]
        : [],
  );
}

describe('error codes', () => {
  it.each(ERROR_CODES)('%s maps to the exit code the contract gives it', (code) => {
    const listed = Object.entries(CONTRACT).find(([, codes]) => codes.includes(code));
    // Everything not listed fails before anything changed: exit 1, host untouched.
    expect(exitCodeFor(code)).toBe(listed ? Number(listed[0]) : 1);
  });

  it('every code is named by an assertion in some test file', () => {
    const text = testFiles(join(PROJECT, 'test'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unasserted = ERROR_CODES.filter((c) => !new RegExp(`['"]${c}['"]`).test(text));
    expect(unasserted).toEqual([]);
  });
});
