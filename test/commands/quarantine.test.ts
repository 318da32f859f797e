/**
 * Quarantine as an operator meets it (issue 10, "Quarantine is confusing"), through the CLI with
 * a fake `systemd-sysext` and `losetup` first on PATH (`--root T --refresh`, no root). A health
 * check reads a flag file, so a version can fail once and pass later. Reproduced first:
 *   - after a failed update or a rollback, `check` said "available 1.0" and only "held back 2.0:
 *     quarantined" (no reason, no date, nothing about the newest published version);
 *   - a successful `update --allow-quarantined` left 2.0 listed as quarantined;
 *   - `update --json` then reported {from: 2.0, to: 1.0, action: "newer-installed"}, which reads
 *     like a downgrade;
 *   - there was no way to clear an entry (`unquarantine`), and `vacuum` kept a quarantined image
 *     that never worked.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { installFakes } from '../helpers/fake-systemd.ts';
import { makeSandbox, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

interface QuarantineEntry {
  version: string;
  reason: string;
  at: string;
}
interface StateDoc {
  extensions: Record<
    string,
    {
      current: string | null;
      previous: string | null;
      quarantined: QuarantineEntry[];
      interrupted: Record<string, number>;
    }
  >;
}

describe.skipIf(missing('unsquashfs'))(
  'quarantine an operator understands (CLI, fake tools)',
  () => {
    let sb: Sandbox;
    let server: Awaited<ReturnType<typeof startServer>>;
    let n = 0;
    let root = '';
    const fakeDir = () => join(sb.dir, 'fake');
    const env = () => ({
      PATH: `${fakeDir()}:${process.env.PATH ?? ''}`,
      FAKE_ROOT: root,
    });
    const run = (...args: string[]) =>
      runCli(['--root', root, '--refresh', '--log-level', 'silent', ...args], env());
    const agent = (...args: string[]) => run('--json', ...args);
    const json = async (...args: string[]) => {
      const r = await agent(...args);
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const stateFile = () => join(root, 'var/lib/sysext-agent/state.json');
    const state = async () => JSON.parse(await readFile(stateFile(), 'utf8')) as StateDoc;
    const hello = async () => (await state()).extensions.hello;
    const stored = (v: string) => join(root, `var/lib/sysext-agent/images/hello/hello_${v}.raw`);
    const link = () => readlink(join(root, 'var/lib/extensions/hello.raw'));
    /** While this file exists, the health check of VERSION fails. */
    const unhealthy = (v: string) => join(fakeDir(), `unhealthy-${v}`);

    beforeAll(async () => {
      sb = await makeSandbox();
      server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
      await installFakes(fakeDir());
      for (const v of ['1.0', '2.0']) await publishFixture(sb, v);
    });
    afterAll(async () => {
      await server?.close();
      await sb?.cleanup();
    });

    /** A fresh root with 1.0 installed (1.0 and 2.0 published; `update hello@1.0`). */
    beforeEach(async () => {
      root = join(sb.dir, `root-${n++}`);
      await rm(unhealthy('2.0'), { force: true });
      const etc = join(root, 'etc/sysext-agent');
      await mkdir(etc, { recursive: true });
      await writeFile(
        join(etc, 'config.json'),
        JSON.stringify({
          repositories: [server.url],
          trustedKeys: sb.keysDir,
          keep: 2,
          extensions: {
            hello: {
              healthCheck: [
                '/bin/sh',
                '-c',
                `test ! -e "${fakeDir()}/unhealthy-$SYSEXT_AGENT_VERSION"`,
              ],
            },
          },
        }),
      );
      await mkdir(join(root, 'usr/lib/extension-release.d'), { recursive: true });
      await writeFile(
        join(root, 'usr/lib/extension-release.d/extension-release.hello'),
        'ID=_any\n',
      );
      const first = await agent('update', 'hello@1.0');
      expect(first.exitCode, first.stderr).toBe(0);
      expect(await link()).toContain('hello_1.0.raw');
    });

    /** 2.0 fails its health check: exit 3, back on 1.0, 2.0 quarantined (never current). */
    async function failedUpdate(): Promise<void> {
      await writeFile(unhealthy('2.0'), '');
      const r = await agent('update');
      expect(r.exitCode, r.stderr).toBe(3);
      expect((await hello())?.quarantined.map((q) => q.version)).toEqual(['2.0']);
      await rm(unhealthy('2.0'));
    }

    it('check after a failed update: newest for this host, newest published, why 2.0 is held back', async () => {
      await failedUpdate();
      const check = await json('check');
      expect(check.extensions.hello).toMatchObject({
        current: '1.0',
        available: '1.0',
        newest: '2.0',
        action: 'none',
        heldBack: [
          {
            version: '2.0',
            cause: 'quarantined',
            quarantine: { reason: expect.stringContaining('health'), at: expect.any(String) },
          },
        ],
      });
      const text = await run('check');
      expect(text.exitCode, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/hello: current 1\.0, available 1\.0 .*newest published 2\.0/);
      const held = text.stdout.split('\n').find((l) => l.includes('held back 2.0'));
      expect(held).toMatch(/quarantined/);
      expect(held).toMatch(/health/);
      expect(held).toMatch(/\d{4}-\d\d-\d\d/);
      expect(held).toMatch(/unquarantine hello 2\.0|--allow-quarantined|hello@2\.0/);
    });

    it('check after a rollback: the version left is held back as rolled back, with its date', async () => {
      expect((await agent('update')).exitCode).toBe(0);
      expect(await link()).toContain('hello_2.0.raw');
      const rb = await agent('rollback');
      expect(rb.exitCode, rb.stderr).toBe(0);
      const check = await json('check');
      expect(check.extensions.hello).toMatchObject({
        current: '1.0',
        available: '1.0',
        newest: '2.0',
        heldBack: [
          { version: '2.0', cause: 'quarantined', reason: expect.stringMatching(/rolled back/) },
        ],
      });
      // Rolled back by hand, so it was activated: vacuum keeps it (it worked once).
      const vac = await json('vacuum');
      expect(vac.quarantinedDeleted).toEqual([]);
      expect(existsSync(stored('2.0'))).toBe(true);
      // Installing it again on purpose, and it proves healthy: the quarantine is gone.
      const again = await agent('update', 'hello@2.0');
      expect(again.exitCode, again.stderr).toBe(0);
      expect((await hello())?.quarantined).toEqual([]);
    });

    it('a successful update --allow-quarantined clears the entry; the next update is a no-op, not a downgrade', async () => {
      await failedUpdate();
      const retry = await agent('update', '--allow-quarantined');
      expect(retry.exitCode, retry.stderr).toBe(0);
      expect(await link()).toContain('hello_2.0.raw');
      const h = await hello();
      expect(h?.current).toBe('2.0');
      expect(h?.quarantined).toEqual([]);
      expect(h?.interrupted).toEqual({});
      const next = await json('update');
      expect(next.extensions.hello).toMatchObject({
        from: '2.0',
        to: '2.0',
        action: 'none',
        result: 'up-to-date',
      });
    });

    it('current newer than anything offered (current quarantined): kept, and said so, never a downgrade', async () => {
      // The state an older agent left behind: 2.0 installed with --allow-quarantined, still listed.
      expect((await agent('update')).exitCode).toBe(0);
      const s = await state();
      s.extensions.hello!.quarantined = [
        { version: '2.0', reason: 'health check failed (exit 1)', at: '2026-11-26T12:00:00.000Z' },
      ];
      await writeFile(stateFile(), JSON.stringify(s));

      const update = await json('update');
      const u = update.extensions.hello;
      expect(u).toMatchObject({ from: '2.0', to: '2.0', result: 'up-to-date' });
      expect(u.action).not.toMatch(/newer-installed/);
      expect(u.action).toBe('keep-current');
      expect(u.message).toMatch(/newer than/);
      expect(u.message).toMatch(/quarantined/);
      expect(await link()).toContain('hello_2.0.raw');

      const check = await json('check');
      expect(check.extensions.hello).toMatchObject({
        current: '2.0',
        action: 'keep-current',
        note: expect.stringMatching(/newer than.*quarantined/s),
      });
      const text = await run('check');
      expect(text.stdout).toMatch(/keep-current/);
      expect(text.stdout).toMatch(/not downgraded|kept/);

      const status = await run('status');
      expect(status.exitCode, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/quarantined 2\.0 .*2026-11-26.*health check failed/);
      expect(status.stdout).toMatch(/newer than/);
      const statusJson = await json('status');
      expect(statusJson.extensions.hello.note).toMatch(/newer than/);
    });

    it('unquarantine forgets entries: all of NAME, or the versions named; unknown names are usage errors', async () => {
      await failedUpdate();
      // Not quarantined: nothing to forget, said so, exit 0 (like remove of something gone).
      const none = await json('unquarantine', 'hello', '9.9');
      expect(none).toMatchObject({ name: 'hello', forgotten: [], notQuarantined: ['9.9'] });
      expect((await hello())?.quarantined.map((q) => q.version)).toEqual(['2.0']);

      const unknown = await agent('unquarantine', 'nosuch');
      expect(unknown.exitCode).toBe(2);
      expect(JSON.parse(unknown.stdout).error.code).toBe('USAGE');
      expect(JSON.parse(unknown.stdout).error.message).toMatch(/nosuch/);
      const updateUnknown = await agent('update', 'nosuch');
      expect(updateUnknown.exitCode).toBe(unknown.exitCode);
      const bad = await agent('unquarantine', 'hello', '../x');
      expect(bad.exitCode).toBe(2);
      expect(JSON.parse(bad.stdout).error.code).toBe('USAGE');
      expect((await run('unquarantine')).exitCode).toBe(2);

      const text = await run('unquarantine', 'hello', '2.0');
      expect(text.exitCode, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/hello 2\.0/);
      expect((await hello())?.quarantined).toEqual([]);
      // Now the next update takes 2.0 again (it is healthy now).
      const u = await json('update');
      expect(u.extensions.hello).toMatchObject({ from: '1.0', to: '2.0', result: 'updated' });
    });

    it('unquarantine NAME forgets every entry of NAME with its interrupted counts, in one JSON document', async () => {
      await failedUpdate();
      const s = await state();
      s.extensions.hello!.interrupted = { '2.0': 1 };
      s.extensions.hello!.quarantined.push({ version: '1.5', reason: 'x', at: 'y' });
      await writeFile(stateFile(), JSON.stringify(s));
      const doc = await json('unquarantine', 'hello');
      expect(doc.forgotten.map((f: QuarantineEntry) => f.version).sort()).toEqual(['1.5', '2.0']);
      expect(await hello()).toMatchObject({ quarantined: [], interrupted: {} });
    });

    it('vacuum removes a quarantined image that never was current, and reports it', async () => {
      await failedUpdate();
      expect(existsSync(stored('2.0'))).toBe(true);
      const r = await agent('vacuum');
      expect(r.exitCode, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.quarantinedDeleted).toEqual([
        { name: 'hello', version: '2.0', reason: expect.stringMatching(/health/) },
      ]);
      expect(existsSync(stored('2.0'))).toBe(false);
      expect(existsSync(stored('1.0'))).toBe(true);
      expect(await link()).toContain('hello_1.0.raw');
      // The entry stays: the version is still not taken unattended.
      expect((await hello())?.quarantined.map((q) => q.version)).toEqual(['2.0']);
      const text = await run('vacuum');
      expect(text.stdout).toMatch(/nothing to delete/);
    });
  },
);
