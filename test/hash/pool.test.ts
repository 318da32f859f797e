/**
 * The hashing threads (src/hash/pool.ts): started ahead of any job (the single-file agent's
 * entry does that for `verity` and `publish`), they never keep the process alive, and every
 * copy of the module in one process uses the same threads.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PROJECT } from '../helpers/cli.ts';

/** Runs `code` (an ES module) in a fresh Node with the pool at POOL; its exit and output. */
function node(code: string) {
  return execa(process.execPath, ['--input-type=module', '-e', code], {
    reject: false,
    timeout: 20_000,
    env: { POOL: `${PROJECT}/src/hash/pool.ts` },
  });
}

describe('hash threads', () => {
  it('a thread started without a job lets the process exit', async () => {
    const r = await node(
      "const { startHashThreads } = await import(process.env.POOL); startHashThreads(2); console.log('started');",
    );
    expect(r.timedOut).toBe(false);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('started');
  });

  it('a second copy of the module uses the threads the first started', async () => {
    const r = await node(
      [
        'const a = await import(process.env.POOL);',
        "const b = await import(process.env.POOL + '?copy');",
        'a.startHashThreads(1);',
        "const key = Symbol.for('sysext-agent.hash-threads');",
        'const before = globalThis[key].threads.slice();',
        'b.startHashThreads(1);',
        'console.log(globalThis[key].threads.length, globalThis[key].threads[0] === before[0]);',
      ].join('\n'),
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('1 true');
  });
});
