// Where systemd 252 and 257 decide differently (src/compat/systemd-version.ts): confext exists
// from v254, ID_LIKE counts from v257.8 (PR #37648, backported by PR #38128), and how a
// release version is read from what a host reports.
import { describe, expect, it } from 'vitest';
import { compatible, type HostRelease, type ReleaseFields } from '../../src/compat/compatible.ts';
import { parseSystemdVersion, type SystemdVersion } from '../../src/compat/systemd-version.ts';

const UBUNTU = { ID: 'ubuntu', ID_LIKE: 'debian', VERSION_ID: '24.04' };

function on(systemdVersion: SystemdVersion, osRelease: ReleaseFields): HostRelease {
  return { osRelease, architecture: 'x86-64', systemdVersion };
}

describe('confext: systemd-confext ships from v254 (image_class in extension-util.c)', () => {
  const conf = { ID: 'debian', VERSION_ID: '12', CONFEXT_LEVEL: '3' };
  const debian = { ID: 'debian', VERSION_ID: '12', CONFEXT_LEVEL: '3', SYSEXT_LEVEL: '1' };

  it.each([252, '253.26', '252.39-1~deb12u2'])('is refused on systemd %s', (v) => {
    const verdict = compatible('confext', 'cfg', conf, on(v, debian));
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.reason).toMatch(
      /^systemd-confext needs systemd 254 or later, this host has systemd 25[23]/,
    );
  });

  it.each([254, '257.13'])('compares CONFEXT_LEVEL, not SYSEXT_LEVEL, on systemd %s', (v) => {
    expect(compatible('confext', 'cfg', { ...conf, VERSION_ID: '11' }, on(v, debian))).toEqual({
      ok: true,
    });
    expect(compatible('confext', 'cfg', { ...conf, CONFEXT_LEVEL: '4' }, on(v, debian))).toEqual({
      ok: false,
      reason: 'built for CONFEXT_LEVEL=4, this host is CONFEXT_LEVEL=3',
    });
    const sysextLevelOnly = { ID: 'debian', VERSION_ID: '11', SYSEXT_LEVEL: '1' };
    expect(compatible('confext', 'cfg', sysextLevelOnly, on(v, debian)).ok).toBe(false);
  });

  it('reads CONFEXT_SCOPE, not SYSEXT_SCOPE', () => {
    const host = on('257.13', debian);
    expect(compatible('confext', 'cfg', { ...conf, SYSEXT_SCOPE: 'initrd' }, host)).toEqual({
      ok: true,
    });
    expect(compatible('confext', 'cfg', { ...conf, CONFEXT_SCOPE: 'initrd' }, host)).toEqual({
      ok: false,
      reason: 'built for CONFEXT_SCOPE="initrd", this host merges in the "system" scope',
    });
  });

  it('names confext in its own refusals', () => {
    expect(compatible('confext', 'cfg', {}, on(257, debian))).toEqual({
      ok: false,
      reason: 'the image has no confext release data (extension-release.cfg missing or empty)',
    });
    expect(compatible('confext', 'cfg', conf, on(257, { VERSION_ID: '12' }))).toEqual({
      ok: false,
      reason: "this host's os-release has no ID=, so systemd-confext merges nothing",
    });
  });
});

describe("ID_LIKE: an image for the host's ID_LIKE merges from systemd 257.8 on", () => {
  const forDebian = { ID: 'debian', VERSION_ID: '24.04' };

  it.each(['257.8', '257.13', 258, '259.1'])('systemd %s matches ID against ID_LIKE', (v) => {
    expect(compatible('sysext', 'hello', forDebian, on(v, UBUNTU))).toEqual({ ok: true });
  });

  it.each([
    ['252.39', 'systemd 252.39'],
    ['256.17', 'systemd 256.17'],
    ['257.7', 'systemd 257.7'],
    // A bare major is its .0 release: the safe side, since ID_LIKE only widens the match.
    [257, 'systemd 257'],
  ])('systemd %s ignores ID_LIKE and says so', (v, name) => {
    expect(compatible('sysext', 'hello', forDebian, on(v, UBUNTU))).toEqual({
      ok: false,
      reason: `built for ID=debian, this host is ID=ubuntu (ID_LIKE=debian, ignored by ${name}; ID_LIKE counts from systemd 257.8 on)`,
    });
  });

  it('matches any word of ID_LIKE, then still compares VERSION_ID with the host', () => {
    const centos = { ID: 'centos', ID_LIKE: 'rhel  fedora', VERSION_ID: '9' };
    expect(
      compatible('sysext', 'x', { ID: 'fedora', VERSION_ID: '9' }, on('257.13', centos)),
    ).toEqual({ ok: true });
    expect(
      compatible('sysext', 'x', { ID: 'debian', VERSION_ID: '12' }, on('257.13', UBUNTU)),
    ).toEqual({
      ok: false,
      reason: 'built for VERSION_ID=12, this host is VERSION_ID=24.04',
    });
  });

  it('a miss names the ID_LIKE it tried', () => {
    expect(compatible('sysext', 'x', { ID: 'fedora' }, on('257.13', UBUNTU))).toEqual({
      ok: false,
      reason: 'built for ID=fedora, this host is ID=ubuntu (ID_LIKE=debian)',
    });
    expect(compatible('sysext', 'x', { ID: 'fedora' }, on('252', UBUNTU))).toEqual({
      ok: false,
      reason:
        'built for ID=fedora, this host is ID=ubuntu (ID_LIKE=debian, ignored by systemd 252)',
    });
  });
});

describe('the systemd version', () => {
  it.each([
    [252, { major: 252, point: 0 }],
    ['252', { major: 252, point: 0 }],
    ['252.39', { major: 252, point: 39 }],
    ['252.39-1~deb12u2', { major: 252, point: 39 }],
    ['257.13-1~deb13u1', { major: 257, point: 13 }],
    ['258~rc1', { major: 258, point: 0 }],
    [' 257.8\n', { major: 257, point: 8 }],
  ])('reads %j', (input, parsed) => {
    expect(parseSystemdVersion(input)).toEqual(parsed);
  });

  it.each([257.8, -1, Number.NaN, '', 'systemd', 'v257', '257.x.1', '2571234567890123456789.1'])(
    'refuses %j',
    (input) => {
      expect(parseSystemdVersion(input)).toBeUndefined();
    },
  );

  it('refuses to judge with an unknown or too old systemd', () => {
    const debian = { ID: 'debian', VERSION_ID: '12' };
    expect(compatible('sysext', 'x', debian, on('systemd', debian))).toEqual({
      ok: false,
      reason: 'unknown systemd version "systemd"',
    });
    expect(compatible('sysext', 'x', debian, on(251, debian))).toEqual({
      ok: false,
      reason: 'systemd 251 predates 252, the oldest systemd whose merge rules this agent knows',
    });
  });
});
