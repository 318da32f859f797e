/**
 * Acceptance: a new version that fails its health check (PRODUCT.md section 1 step 9). The real
 * systemd-sysext merges it inside a private mount namespace, the health check runs the merged
 * binary and fails, and the agent switches back, refreshes, quarantines the bad version and
 * exits 3. The quarantined version is not retried unattended, only with --allow-quarantined.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realHost, type RealHost } from '../helpers/real-host.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages, snapshot } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

const hello = `echo "hello=$(/usr/bin/hello 2>/dev/null)"`;
const selftest = `/usr/bin/hello --selftest >/dev/null 2>&1; echo "selftest=$?"`;
const present = (path: string): string => `test -e '${path}'; echo "present=$?"`;

describe.skipIf(skip)('an update that fails its health check', () => {
  let h: RealHost;
  beforeAll(async () => {
    h = await realHost({
      hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });
  const untouched = async (): Promise<Record<string, unknown>> => ({
    extensions: await snapshot(join(h.sb.varLib, 'extensions')),
    images: await snapshot(join(h.sb.varLib, 'sysext-agent/images')),
  });

  it('v1 is installed and merged', async () => {
    const [v1] = await buildImages(h.sb.images, ['1.0']);
    await h.publish(v1 as string);
    const r = await h.ns(h.run('update1', 'update'), hello);
    expect(r.values.update1, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
  });

  it('a v2 that fails its health check is rolled back (exit 3) and quarantined', async () => {
    const [v2] = await buildImages(h.sb.images, ['2.0'], { healthFail: true });
    await h.publish(v2 as string);
    const r = await h.ns(h.run('update2', 'update'), hello, selftest, h.run('status2', 'status'));
    expect(r.values.update2, r.stderr).toBe('3');
    // The same namespace: the way back was refreshed, v1 is what is merged now.
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.selftest).toBe('0');
    expect(await h.json('update2')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: '1.0', to: '2.0', result: 'failed' } },
    });
    const status = await h.json('status2');
    expect(status).toMatchObject({
      extensions: {
        hello: {
          kind: 'sysext',
          current: '1.0',
          quarantined: ['2.0'],
          quarantine: [{ version: '2.0', reason: expect.any(String), at: expect.any(String) }],
          lastResult: { ok: false },
        },
      },
    });
    const q = (status as { extensions: { hello: { quarantine: { reason: string }[] } } }).extensions
      .hello.quarantine[0];
    expect(q?.reason.length).toBeGreaterThan(0);
  });

  it('the next update leaves the quarantined v2 alone: exit 0, v1 stays', async () => {
    const before = await untouched();
    const r = await h.ns(
      h.run('update3', 'update'),
      'systemd-sysext refresh >/dev/null',
      hello,
      h.run('status3', 'status'),
    );
    expect(r.values.update3, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(await h.json('update3')).toMatchObject({
      exitCode: 0,
      extensions: { hello: { result: 'up-to-date' } },
    });
    expect(await h.json('status3')).toMatchObject({
      extensions: { hello: { current: '1.0', quarantined: ['2.0'] } },
    });
    expect(await untouched()).toEqual(before);
  });

  it('--allow-quarantined retries v2 on purpose; still broken, so exit 3 again', async () => {
    const r = await h.ns(
      h.run('retry', 'update --allow-quarantined hello'),
      hello,
      selftest,
      h.run('status4', 'status'),
    );
    expect(r.values.retry, r.stderr).toBe('3');
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.selftest).toBe('0');
    expect(await h.json('retry')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: '1.0', to: '2.0', result: 'failed' } },
    });
    expect(await h.json('status4')).toMatchObject({
      extensions: { hello: { current: '1.0', quarantined: ['2.0'] } },
    });
  });

  it('a healthy v3 is installed past the quarantined v2', async () => {
    const [v3] = await buildImages(h.sb.images, ['3.0']);
    await h.publish(v3 as string);
    const r = await h.ns(h.run('update5', 'update'), hello, h.run('status5', 'status'));
    expect(r.values.update5, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 3.0');
    expect(await h.json('update5')).toMatchObject({
      extensions: { hello: { from: '1.0', to: '3.0', result: 'updated' } },
    });
    expect(await h.json('status5')).toMatchObject({
      extensions: { hello: { current: '3.0', previous: '1.0' } },
    });
  });
});

describe.skipIf(skip)('a first install that fails its health check', () => {
  let h: RealHost;
  beforeAll(async () => {
    h = await realHost({
      hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('exits 3 and leaves the extension inactive', async () => {
    const [v1] = await buildImages(h.sb.images, ['1.0'], { healthFail: true });
    await h.publish(v1 as string);
    const r = await h.ns(
      h.run('install', 'update'),
      present('/usr/bin/hello'),
      h.run('status', 'status'),
    );
    expect(r.values.install, r.stderr).toBe('3');
    expect(r.values.present).toBe('1');
    await expect(lstat(join(h.sb.varLib, 'extensions/hello.raw'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await h.json('install')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: null, to: '1.0', result: 'failed' } },
    });
    expect(await h.json('status')).toMatchObject({
      extensions: { hello: { current: null, previous: null, quarantined: ['1.0'] } },
    });
  });
});

describe.skipIf(skip)('a version that takes the host down during its health check', () => {
  let h: RealHost;
  beforeAll(async () => {
    h = await realHost({
      hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('is quarantined after two interrupted attempts instead of being retried forever', async () => {
    const [v1, v2] = await buildImages(h.sb.images, ['1.0', '2.0']);
    await h.publish(v1 as string);
    expect((await h.ns(h.run('install', 'update'))).values.install).toBe('0');
    await h.publish(v2 as string);
    // The agent dies (SIGKILL) while 2.0 is merged and its health check is due, as a machine
    // that crashes or loses power then would; the next command recovers first.
    const crash = `SYSEXT_AGENT_TEST_CRASH_AT=health:hello ${h.run('crash', 'update')}`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const r = await h.ns(
        crash,
        h.run('recover', 'recover'),
        'systemd-sysext refresh >/dev/null',
        hello,
      );
      expect(r.values.crash, r.stderr).toBe('137');
      expect(r.values.recover, r.stderr).toBe('0');
      expect(r.values.hello).toBe('hello 1.0');
    }
    const after = await h.ns(h.run('update', 'update'), h.run('status', 'status'));
    expect(after.values.update, after.stderr).toBe('0');
    expect(await h.json('update')).toMatchObject({
      extensions: { hello: { result: 'up-to-date' } },
    });
    expect(await h.json('status')).toMatchObject({
      extensions: { hello: { current: '1.0', quarantined: ['2.0'] } },
    });
  });
});
