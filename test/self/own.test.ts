/**
 * The agent's own extensions (PRODUCT.md section 8): their health check defaults to the newly
 * merged agent's self-test; `remove` refuses them without --force; `self-test` passes.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckOf, SELF_TEST } from '../../src/self/own.ts';
import { runCli } from '../helpers/cli.ts';

describe("the agent's own extensions", () => {
  it('default to the self-test as their health check; a configured one wins', () => {
    expect(healthCheckOf('sysext-agent', undefined, 30)).toEqual({
      healthCheck: SELF_TEST,
      healthTimeoutSec: 30,
    });
    expect(healthCheckOf('sysext-agent-node', { healthTimeoutSec: 5 }, 30)?.healthCheck).toEqual(
      SELF_TEST,
    );
    const own = { healthCheck: ['/bin/true'], healthTimeoutSec: 5 };
    expect(healthCheckOf('sysext-agent', own, 30)).toBe(own);
    expect(healthCheckOf('hello', undefined, 30)).toBeUndefined();
  });

  describe('through the CLI', () => {
    let root = '';
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'sysext-agent-own-'));
      await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
      await writeFile(
        join(root, 'etc/sysext-agent/config.json'),
        JSON.stringify({ repositories: ['/nowhere'], extensions: { 'sysext-agent': {} } }),
      );
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('remove sysext-agent is refused without --force (exit 2); with it, it proceeds', async () => {
      const refused = await runCli(['--root', root, '--json', 'remove', 'sysext-agent']);
      expect(refused.exitCode).toBe(2);
      expect(JSON.parse(refused.stdout).error.code).toBe('USAGE');
      // With --force the guard lets it through; nothing is installed here: already gone, exit 0.
      const forced = await runCli(['--root', root, '--json', 'remove', '--force', 'sysext-agent']);
      expect(forced.exitCode, forced.stderr).toBe(0);
      expect(JSON.parse(forced.stdout).extensions['sysext-agent'].result).toBe('skipped');
    });

    it('self-test loads every module, signs and verifies, builds a verity tree', async () => {
      const r = await runCli(['--json', 'self-test']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        ok: true,
        checks: ['modules', 'sign-verify', 'verity'],
      });
    });
  });
});
