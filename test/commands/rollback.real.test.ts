/**
 * Acceptance: `rollback` with the real systemd-sysext in a private mount namespace. Two
 * extensions roll back in one transaction; the versions left are quarantined so the next
 * update does not bring them back; a rollback with nothing to go back to changes nothing
 * (exit 1); a rollback whose target fails its health check is undone (exit 3).
 */
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realHost, runBin, selftest, type RealHost } from '../helpers/real-host.ts';
import { missingFor } from '../helpers/requirements.ts';
import { buildImages, snapshot } from '../helpers/sandbox.ts';

const skip = missingFor('merge');

describe.skipIf(skip)('rollback of two extensions in one transaction', () => {
  let h: RealHost;
  beforeAll(async () => {
    h = await realHost({ hello: selftest('hello'), world: selftest('world') });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('installs v1 of both, then updates both to v2', async () => {
    const hello = await buildImages(h.sb.images, ['1.0', '2.0']);
    const world = await buildImages(h.sb.images, ['1.0', '2.0'], { name: 'world' });
    await h.publish(hello[0] as string, world[0] as string);
    const first = await h.ns(h.run('update1', 'update'), runBin('hello'), runBin('world'));
    expect(first.values.update1, first.stderr).toBe('0');
    expect(first.values.hello).toBe('hello 1.0');
    expect(first.values.world).toBe('world 1.0');

    await h.publish(hello[1] as string, world[1] as string);
    const second = await h.ns(
      h.run('update2', 'update'),
      runBin('hello'),
      runBin('world'),
      h.run('status2', 'status'),
    );
    expect(second.values.update2, second.stderr).toBe('0');
    expect(second.values.hello).toBe('hello 2.0');
    expect(second.values.world).toBe('world 2.0');
    expect(await h.json('status2')).toMatchObject({
      extensions: {
        hello: { current: '2.0', previous: '1.0' },
        world: { current: '2.0', previous: '1.0' },
      },
    });
  });

  it('rollback with no names takes both back to v1 and quarantines v2', async () => {
    const r = await h.ns(
      'systemd-sysext refresh >/dev/null',
      runBin('hello', 'before'),
      h.run('rollback', 'rollback'),
      runBin('hello'),
      runBin('world'),
      h.run('status3', 'status'),
    );
    expect(r.values.before).toBe('hello 2.0');
    expect(r.values.rollback, r.stderr).toBe('0');
    // The same namespace: the rollback's own refresh merged v1.
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.world).toBe('world 1.0');
    expect(await h.json('rollback')).toMatchObject({
      exitCode: 0,
      extensions: {
        hello: { from: '2.0', to: '1.0', result: 'rolled-back' },
        world: { from: '2.0', to: '1.0', result: 'rolled-back' },
      },
    });
    const back = { current: '1.0', previous: null, quarantined: ['2.0'] };
    expect(await h.json('status3')).toMatchObject({ extensions: { hello: back, world: back } });
  });

  it('the next update does not reinstall the quarantined v2', async () => {
    const r = await h.ns(
      h.run('update4', 'update'),
      'systemd-sysext refresh >/dev/null',
      runBin('hello'),
      runBin('world'),
      h.run('status4', 'status'),
    );
    expect(r.values.update4, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.values.world).toBe('world 1.0');
    expect(await h.json('update4')).toMatchObject({
      exitCode: 0,
      extensions: { hello: { result: 'up-to-date' }, world: { result: 'up-to-date' } },
    });
    expect(await h.json('status4')).toMatchObject({
      extensions: { hello: { current: '1.0' }, world: { current: '1.0' } },
    });
  });

  it('rollback of an extension without a previous version: exit 1, NO_PREVIOUS, nothing changed', async () => {
    const before = await snapshot(h.sb.varLib);
    const r = await h.ns('systemd-sysext refresh >/dev/null', h.run('none', 'rollback hello'));
    expect(r.values.none, r.stderr).toBe('1');
    expect(await h.json('none')).toMatchObject({ error: { code: 'NO_PREVIOUS' } });
    expect(await snapshot(h.sb.varLib)).toEqual(before);
  });
});

describe.skipIf(skip)('a rollback whose target fails its health check', () => {
  let h: RealHost;
  beforeAll(async () => {
    h = await realHost({ hello: selftest('hello') });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('is undone: exit 3, v2 stays live', async () => {
    const [v1, v2] = await buildImages(h.sb.images, ['1.0', '2.0']);
    await h.publish(v1 as string);
    expect((await h.ns(h.run('update1', 'update'))).values.update1).toBe('0');
    await h.publish(v2 as string);
    const up = await h.ns(h.run('update2', 'update'), runBin('hello'));
    expect(up.values.update2, up.stderr).toBe('0');
    expect(up.values.hello).toBe('hello 2.0');

    // From now on 1.0 is unhealthy on this host, whatever its binary says.
    await h.configure({
      hello: {
        healthCheck: ['/bin/sh', '-c', 'test "$SYSEXT_AGENT_VERSION" != 1.0'],
        healthTimeoutSec: 10,
      },
    });
    const r = await h.ns(
      'systemd-sysext refresh >/dev/null',
      h.run('rollback', 'rollback'),
      runBin('hello'),
      h.run('status', 'status'),
    );
    expect(r.values.rollback, r.stderr).toBe('3');
    expect(r.values.hello).toBe('hello 2.0');
    expect(await h.json('rollback')).toMatchObject({
      exitCode: 3,
      extensions: { hello: { from: '2.0', to: '1.0', result: 'failed' } },
    });
    expect(await h.json('status')).toMatchObject({
      extensions: {
        hello: {
          current: '2.0',
          // The failed target is quarantined, so it is no longer offered as "previous".
          previous: null,
          quarantined: ['1.0'],
          quarantine: [{ version: '1.0', reason: expect.any(String) }],
          lastResult: { ok: false },
        },
      },
    });
    const link = await readlink(join(h.sb.varLib, 'extensions/hello.raw'));
    expect(link.endsWith('/hello_2.0.raw')).toBe(true);
  });
});
