/**
 * Acceptance: `remove` with the real systemd-sysext in a private mount namespace. The extension
 * is deactivated, unmerged (its binary and extension-release file leave the merged /usr), its
 * stored versions and state deleted; the JSON report warns while the configuration still lists
 * it, and once it is no longer configured `update` leaves it gone. Removing a name the agent
 * does not know (neither configured nor installed) is a usage error that changes nothing
 * (exit 2).
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentStep, namespaceSteps, readReport, type NsResult } from '../helpers/real-host.ts';
import { runCli } from '../helpers/cli.ts';
import { startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

const RELEASE = '/usr/lib/extension-release.d/extension-release.hello';

describe.skipIf(skip)('remove with the real systemd-sysext', () => {
  let sb: Sandbox;
  let nginx: RunningNginx;
  const configure = (extensions: Record<string, unknown>): Promise<void> =>
    sb.writeConfig({ repositories: [nginx.url], extensions });

  beforeAll(async () => {
    sb = await makeSandbox();
    nginx = await startNginx(sb.repo);
    await configure({
      hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await sb?.cleanup();
  });

  const run = (label: string, args: string): string => agentStep(sb, label, args);
  const hello = `echo "hello=$(/usr/bin/hello 2>/dev/null)"`;
  const present = (key: string, path: string): string => `test -e '${path}'; echo "${key}=$?"`;

  const ns = (...steps: string[]): Promise<NsResult> => namespaceSteps(sb, ...steps);
  const json = (label: string): Promise<Record<string, unknown>> => readReport(sb, label);
  const exists = (path: string): Promise<boolean> =>
    lstat(path).then(
      () => true,
      () => false,
    );

  it('installs v1', async () => {
    const [v1] = await buildImages(sb.images, ['1.0']);
    const pub = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, v1 as string]);
    expect(pub.exitCode, pub.stderr).toBe(0);
    const r = await ns(run('update1', 'update'), hello);
    expect(r.values.update1, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
  });

  it('remove hello: exit 0, unmerged, store and state gone, warned that it is still configured', async () => {
    const r = await ns(
      'systemd-sysext refresh >/dev/null',
      hello,
      present('before', RELEASE),
      run('remove', 'remove hello'),
      present('bin', '/usr/bin/hello'),
      present('release', RELEASE),
      run('status', 'status'),
    );
    // Merged before the remove, so its absence afterwards is the remove's doing.
    expect(r.values.before).toBe('0');
    expect(r.values.remove, r.stderr).toBe('0');
    expect(r.values.bin).toBe('1');
    expect(r.values.release).toBe('1');

    expect(await exists(join(sb.varLib, 'sysext-agent/images/hello'))).toBe(false);
    expect(await exists(join(sb.varLib, 'extensions/hello.raw'))).toBe(false);
    const report = await json('remove');
    expect(report).toMatchObject({
      exitCode: 0,
      extensions: { hello: { from: '1.0', to: null, result: 'removed' } },
      warnings: [expect.stringContaining('hello')],
    });
    // Still configured, so status lists it, but nothing is installed.
    expect(await json('status')).toMatchObject({
      extensions: {
        hello: { current: null, previous: null, installed: [], quarantined: [] },
      },
    });
  });

  it('after removing it from the configuration, update does not bring it back', async () => {
    await configure({});
    const r = await ns(
      run('update2', 'update'),
      'systemd-sysext refresh >/dev/null',
      present('bin', '/usr/bin/hello'),
      run('status2', 'status'),
    );
    expect(r.values.update2, r.stderr).toBe('0');
    expect(r.values.bin).toBe('1');
    expect(await exists(join(sb.varLib, 'extensions/hello.raw'))).toBe(false);
    expect(await exists(join(sb.varLib, 'sysext-agent/images/hello'))).toBe(false);
    const status = (await json('status2')) as { extensions: Record<string, unknown> };
    expect(status.extensions.hello).toBeUndefined();
  });

  it('remove of a name the agent does not know: exit 2, USAGE, nothing changed', async () => {
    const before = await snapshot(sb.varLib);
    const r = await ns(run('nothere', 'remove nothere'));
    expect(r.values.nothere, r.stderr).toBe('2');
    expect(await json('nothere')).toMatchObject({ error: { code: 'USAGE' } });
    expect(await snapshot(sb.varLib)).toEqual(before);
  });
});
