/**
 * The shipped units pass `systemd-analyze verify` (the external oracle for unit files), with
 * ExecStart pointed at this checkout's entry point since verify checks that it is executable, and
 * MANPATH at the rendered sysext-agent(8) since it checks that Documentation= man pages exist.
 * A broken copy must fail, so the check is known to bite. `systemd-analyze security --offline`
 * rates the hardened update service; booted proof that it still merges is
 * test/build/units-boot.real.test.ts.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderManPage } from '../../scripts/man.ts';
import { PROJECT } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';

const UNITS = join(PROJECT, 'systemd-units');
const ENTRY = join(PROJECT, 'bin/sysext-agent.js');
/** Where `man sysext-agent.8` finds the page (the trailing colon keeps the system's pages). */
let manPath = '';

async function verify(dir: string): Promise<{ exitCode: number; stderr: string }> {
  const files = (await readdir(dir)).map((f) => join(dir, f));
  const r = await execa('systemd-analyze', ['verify', ...files], {
    reject: false,
    env: { MANPATH: `${manPath}:` },
  });
  return { exitCode: r.exitCode ?? -1, stderr: r.stderr };
}

/** `systemd-analyze security --offline=yes`'s overall exposure of a unit file. */
async function exposure(file: string): Promise<number> {
  const r = await execa('systemd-analyze', ['security', '--offline=yes', file], { reject: false });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout + r.stderr);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  return Number(m?.[1]);
}

/** Options that give a service a mount namespace of its own: the merge would be invisible. */
const OWN_MOUNT_NAMESPACE =
  /^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|PrivateNetwork|PrivateUsers|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|RootDirectory|RootImage|MountFlags)=/m;

describe.skipIf(missing('systemd-analyze'))('systemd units', () => {
  let dir = '';
  let units: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-units-'));
    manPath = await mkdtemp(join(tmpdir(), 'sysext-agent-units-man-'));
    await mkdir(join(manPath, 'man8'), { recursive: true });
    await writeFile(join(manPath, 'man8/sysext-agent.8'), await renderManPage('test'));
    units = (await readdir(UNITS)).filter((f) => /\.(service|timer)$/.test(f));
    for (const unit of units) {
      const text = await readFile(join(UNITS, unit), 'utf8');
      await writeFile(join(dir, unit), text.replaceAll('/usr/bin/sysext-agent', ENTRY));
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(manPath, { recursive: true, force: true });
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

  it('the timer: Persistent= comes with OnCalendar= (it acts on nothing else), and a first run after boot', async () => {
    const text = await readFile(join(UNITS, 'sysext-agent-update.timer'), 'utf8');
    expect(text).toMatch(/^Persistent=true$/m);
    expect(text).toMatch(/^OnCalendar=\S+$/m);
    expect(text).toMatch(/^OnBootSec=\S+$/m);
    expect(text).toMatch(/^RandomizedDelaySec=\S+$/m);
  });

  it('every unit and boot-time hook documents itself with man pages, not a URL', async () => {
    const boot = join(UNITS, 'boot');
    const files = [
      ...units.map((u) => join(UNITS, u)),
      ...(await readdir(boot)).filter((f) => f.endsWith('.service')).map((f) => join(boot, f)),
    ];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      expect(/^Documentation=(.*)$/m.exec(text)?.[1], file).toBe(
        'man:sysext-agent(8) man:systemd-sysext(8)',
      );
    }
  });

  it('the services are hardened, in the host mount namespace, where systemd-sysext.service would run', async () => {
    const boot = join(UNITS, 'boot');
    const services = [
      join(UNITS, 'sysext-agent-update.service'),
      join(UNITS, 'sysext-agent-recover.service'),
      join(boot, 'sysext-agent-boot-recover.service'),
      join(boot, 'sysext-agent-rescue.service'),
    ];
    for (const file of services) {
      const text = await readFile(file, 'utf8');
      for (const option of [
        /^CapabilityBoundingSet=CAP_SYS_ADMIN /m,
        /^NoNewPrivileges=yes$/m,
        /^RestrictAddressFamilies=AF_UNIX /m,
        /^RestrictNamespaces=mnt$/m,
        /^SystemCallFilter=@system-service @mount$/m,
        /^SystemCallArchitectures=native$/m,
        /^LockPersonality=yes$/m,
        /^RestrictRealtime=yes$/m,
        /^ProtectHostname=yes$/m,
      ]) {
        expect(text, `${file}: ${option.source}`).toMatch(option);
      }
      expect(text, file).not.toMatch(OWN_MOUNT_NAMESPACE);
      // V8 compiles to machine code at run time.
      expect(text, file).not.toMatch(/^MemoryDenyWriteExecute=/m);
      // Implies a device allow list without the loop and device-mapper devices.
      expect(text, file).not.toMatch(/^ProtectClock=/m);
    }
    const update = await readFile(join(UNITS, 'sysext-agent-update.service'), 'utf8');
    expect(update).toMatch(/^ConditionCapability=CAP_SYS_ADMIN$/m);
    expect(update).not.toMatch(/^ConditionVirtualization=/m);
    expect(update).toMatch(/^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$/m);
    // Recovery and rescue need no network.
    for (const file of services.slice(1)) {
      expect(await readFile(file, 'utf8'), file).not.toMatch(/^RestrictAddressFamilies=.*AF_INET/m);
    }
  });

  it('systemd-analyze security --offline rates the hardened update service well below the unhardened one', async () => {
    const hardened = await exposure(join(dir, 'sysext-agent-update.service'));
    const text = await readFile(join(dir, 'sysext-agent-update.service'), 'utf8');
    const bare = await mkdtemp(join(tmpdir(), 'sysext-agent-units-bare-'));
    try {
      const unit = join(bare, 'sysext-agent-update.service');
      await writeFile(unit, text.replace(/^# Mounting \(loop devices[\s\S]*$/m, ''));
      const before = await exposure(unit);
      console.log(
        `systemd-analyze security --offline=yes sysext-agent-update.service: ${before} before the hardening, ${hardened} after`,
      );
      expect(before).toBeGreaterThanOrEqual(9);
      expect(hardened).toBeLessThanOrEqual(5);
    } finally {
      await rm(bare, { recursive: true, force: true });
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
