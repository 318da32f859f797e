/**
 * The shipped units pass `systemd-analyze verify` (the external oracle for unit files), with
 * ExecStart pointed at this checkout's entry point since verify checks that it is executable.
 * A broken copy must fail, so the check is known to bite.
 */
import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';

const UNITS = join(PROJECT, 'systemd-units');
const ENTRY = join(PROJECT, 'bin/sysext-agent.js');

async function verify(dir: string): Promise<{ exitCode: number; stderr: string }> {
  const files = (await readdir(dir)).map((f) => join(dir, f));
  const r = await execa('systemd-analyze', ['verify', ...files], { reject: false });
  return { exitCode: r.exitCode ?? -1, stderr: r.stderr };
}

describe.skipIf(missing('systemd-analyze'))('systemd units', () => {
  let dir = '';
  let units: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-units-'));
    units = (await readdir(UNITS)).filter((f) => /\.(service|timer)$/.test(f));
    for (const unit of units) {
      const text = await readFile(join(UNITS, unit), 'utf8');
      await writeFile(join(dir, unit), text.replaceAll('/usr/bin/sysext-agent', ENTRY));
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ships the update service and timer and the boot-time recovery service', () => {
    expect(units.sort()).toEqual([
      'sysext-agent-recover.service',
      'sysext-agent-update.service',
      'sysext-agent-update.timer',
    ]);
  });

  it('systemd-analyze verify accepts every unit without a warning', async () => {
    const r = await verify(dir);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('recovery runs before systemd-sysext.service and systemd-confext.service merge at boot', async () => {
    const text = await readFile(join(UNITS, 'sysext-agent-recover.service'), 'utf8');
    const before = /^Before=(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
    expect(before).toEqual(
      expect.arrayContaining(['systemd-sysext.service', 'systemd-confext.service']),
    );
    expect(text).toMatch(/^DefaultDependencies=no$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/sysext-agent .*recover$/m);
  });

  it('the boot-time hooks written for an agent that is itself an extension pass verify too', async () => {
    const boot = await mkdtemp(join(tmpdir(), 'sysext-agent-units-boot-'));
    try {
      const source = join(UNITS, 'boot');
      const services = (await readdir(source)).filter((f) => f.endsWith('.service'));
      expect(services.sort()).toEqual([
        'sysext-agent-boot-recover.service',
        'sysext-agent-rescue.service',
      ]);
      for (const unit of services) {
        const text = await readFile(join(source, unit), 'utf8');
        // They run /bin/sh with the launcher, which verify does not need to find.
        expect(text).toMatch(
          /^ExecStart=\/bin\/sh \/var\/lib\/sysext-agent\/boot\/run-stored\.sh /m,
        );
        await writeFile(join(boot, unit), text);
      }
      const r = await verify(boot);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      const recover = await readFile(join(source, 'sysext-agent-boot-recover.service'), 'utf8');
      expect(/^Before=(.*)$/m.exec(recover)?.[1]?.split(/\s+/)).toEqual(
        expect.arrayContaining(['systemd-sysext.service', 'systemd-confext.service']),
      );
      expect(await readFile(join(source, 'sysext-agent-rescue.conf'), 'utf8')).toMatch(
        /^OnFailure=sysext-agent-rescue\.service$/m,
      );
    } finally {
      await rm(boot, { recursive: true, force: true });
    }
  });

  it('a broken unit is caught (the check can fail)', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'sysext-agent-units-broken-'));
    try {
      const text = await readFile(join(dir, 'sysext-agent-update.service'), 'utf8');
      await writeFile(
        join(broken, 'sysext-agent-update.service'),
        text.replace(/^ExecStart=.*$/m, 'ExecStart=no-such-agent update'),
      );
      const r = await verify(broken);
      expect(r.exitCode !== 0 || r.stderr !== '').toBe(true);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
