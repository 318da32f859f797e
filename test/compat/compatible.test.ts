// compatible() rule by rule. Each table follows one block of extension_release_validate()
// (v252 src/shared/extension-release.c, v257.13 src/shared/extension-util.c; the same logic
// apart from confext and ID_LIKE, which versions.test.ts covers) and is run on both releases.
import { describe, expect, it } from 'vitest';
import {
  compatible,
  type ExtensionKind,
  type HostRelease,
  type ReleaseFields,
} from '../../src/compat/compatible.ts';

const DEBIAN = { ID: 'debian', VERSION_ID: '12' };

function host(osRelease: ReleaseFields, more: Partial<HostRelease> = {}): HostRelease {
  return { osRelease, architecture: 'x86-64', systemdVersion: '252.39', ...more };
}

interface Row {
  why: string;
  release: ReleaseFields;
  os?: ReleaseFields;
  /** undefined: accepted; else the reason, in full. */
  refused?: string;
}

/** Runs a table of sysext rows on systemd 252 and 257.13. */
function table(rows: readonly Row[], kind: ExtensionKind = 'sysext'): void {
  describe.each(['252.39', '257.13'])('systemd %s', (systemdVersion) => {
    it.each(rows)('$why', ({ release, os, refused }) => {
      const verdict = compatible(kind, 'hello', release, host(os ?? DEBIAN, { systemdVersion }));
      expect(verdict).toEqual(
        refused === undefined ? { ok: true } : { ok: false, reason: refused },
      );
    });
  });
}

describe('ID: required, `_any` or equal to the host ID ("is for OS ..., but deployed on top of")', () => {
  table([
    { why: 'same ID and VERSION_ID', release: DEBIAN },
    {
      why: 'other ID',
      release: { ID: 'fedora', VERSION_ID: '12' },
      refused: 'built for ID=fedora, this host is ID=debian',
    },
    {
      why: 'IDs compare case-sensitively (streq)',
      release: { ID: 'Debian', VERSION_ID: '12' },
      refused: 'built for ID=Debian, this host is ID=debian',
    },
    {
      why: 'no ID ("does not contain ID in ... release")',
      release: { VERSION_ID: '12' },
      refused: 'built without ID=, this host needs ID=debian or ID=_any',
    },
    {
      why: 'empty ID counts as none (isempty)',
      release: { ID: '', VERSION_ID: '12' },
      refused: 'built without ID=, this host needs ID=debian or ID=_any',
    },
    {
      why: '`_any` matches any OS and skips VERSION_ID and SYSEXT_LEVEL',
      release: { ID: '_any', VERSION_ID: '1', SYSEXT_LEVEL: '9' },
      os: { ...DEBIAN, SYSEXT_LEVEL: '1' },
    },
  ]);
});

describe('SYSEXT_LEVEL when both sides have it, else VERSION_ID when the host has one', () => {
  table([
    {
      why: 'equal levels win over different VERSION_IDs',
      release: { ID: 'debian', VERSION_ID: '11', SYSEXT_LEVEL: '1.0' },
      os: { ...DEBIAN, SYSEXT_LEVEL: '1.0' },
    },
    {
      why: 'different levels refuse even with equal VERSION_IDs',
      release: { ...DEBIAN, SYSEXT_LEVEL: '1.0' },
      os: { ...DEBIAN, SYSEXT_LEVEL: '2.0' },
      refused: 'built for SYSEXT_LEVEL=1.0, this host is SYSEXT_LEVEL=2.0',
    },
    {
      why: 'level on the image only: VERSION_ID decides (match)',
      release: { ...DEBIAN, SYSEXT_LEVEL: '1.0' },
    },
    {
      why: 'level on the image only: VERSION_ID decides (mismatch)',
      release: { ID: 'debian', VERSION_ID: '11', SYSEXT_LEVEL: '1.0' },
      refused:
        'built for VERSION_ID=11, this host is VERSION_ID=12 (its SYSEXT_LEVEL=1.0 counts only when this host has SYSEXT_LEVEL too)',
    },
    {
      why: 'level on the host only: VERSION_ID decides (match)',
      release: DEBIAN,
      os: { ...DEBIAN, SYSEXT_LEVEL: '1.0' },
    },
    {
      why: 'level on the host only: VERSION_ID decides (mismatch)',
      release: { ID: 'debian', VERSION_ID: '11' },
      os: { ...DEBIAN, SYSEXT_LEVEL: '1.0' },
      refused:
        'built for VERSION_ID=11, this host is VERSION_ID=12 (with SYSEXT_LEVEL=1.0 in the image, SYSEXT_LEVEL would be compared instead)',
    },
    {
      why: 'host with a level but no VERSION_ID, image without a level: falls through, accepted',
      release: { ID: 'debian', VERSION_ID: '11' },
      os: { ID: 'debian', SYSEXT_LEVEL: '1.0' },
    },
    {
      why: 'rolling host (no VERSION_ID, no level): the ID is enough',
      release: { ID: 'arch', VERSION_ID: 'whatever', SYSEXT_LEVEL: '7' },
      os: { ID: 'arch' },
    },
    {
      why: 'empty host VERSION_ID counts as none (rolling)',
      release: { ID: 'arch' },
      os: { ID: 'arch', VERSION_ID: '' },
    },
    {
      why: 'image without VERSION_ID on a host with one',
      release: { ID: 'debian' },
      refused: 'built without VERSION_ID=, this host is VERSION_ID=12',
    },
    {
      why: 'VERSION_IDs compare as strings, not as versions',
      release: { ID: 'debian', VERSION_ID: '12.0' },
      refused: 'built for VERSION_ID=12.0, this host is VERSION_ID=12',
    },
    {
      why: 'CONFEXT_LEVEL means nothing to a sysext',
      release: { ID: 'debian', VERSION_ID: '11', CONFEXT_LEVEL: '1' },
      os: { ...DEBIAN, CONFEXT_LEVEL: '1' },
      refused: 'built for VERSION_ID=11, this host is VERSION_ID=12',
    },
  ]);
});

describe('ARCHITECTURE: absent, empty, `_any` or uname_architecture()', () => {
  table([
    { why: 'same architecture', release: { ...DEBIAN, ARCHITECTURE: 'x86-64' } },
    { why: '`_any`', release: { ...DEBIAN, ARCHITECTURE: '_any' } },
    { why: 'absent', release: DEBIAN },
    { why: 'empty (isempty)', release: { ...DEBIAN, ARCHITECTURE: '' } },
    {
      why: 'other architecture',
      release: { ...DEBIAN, ARCHITECTURE: 'arm64' },
      refused: 'built for ARCHITECTURE=arm64, this host is ARCHITECTURE=x86-64',
    },
    {
      why: "a Debian architecture name is not systemd's",
      release: { ...DEBIAN, ARCHITECTURE: 'amd64' },
      refused: 'built for ARCHITECTURE=amd64, this host is ARCHITECTURE=x86-64',
    },
    {
      why: 'checked before ID, so `ID=_any` does not excuse it',
      release: { ID: '_any', ARCHITECTURE: 'arm64' },
      refused: 'built for ARCHITECTURE=arm64, this host is ARCHITECTURE=x86-64',
    },
  ]);
});

describe('SYSEXT_SCOPE: its words must include the host scope; absent means "system portable"', () => {
  table([
    { why: 'absent', release: DEBIAN },
    { why: 'system', release: { ...DEBIAN, SYSEXT_SCOPE: 'system' } },
    { why: 'several words, any blanks', release: { ...DEBIAN, SYSEXT_SCOPE: ' initrd\tsystem ' } },
    {
      why: 'initrd only',
      release: { ...DEBIAN, SYSEXT_SCOPE: 'initrd' },
      refused: 'built for SYSEXT_SCOPE="initrd", this host merges in the "system" scope',
    },
    {
      why: 'portable only',
      release: { ...DEBIAN, SYSEXT_SCOPE: 'portable' },
      refused: 'built for SYSEXT_SCOPE="portable", this host merges in the "system" scope',
    },
    {
      why: 'present but empty: no scope at all',
      release: { ...DEBIAN, SYSEXT_SCOPE: '' },
      refused: 'built for SYSEXT_SCOPE="", this host merges in the "system" scope',
    },
    {
      why: 'checked first: before ARCHITECTURE and ID',
      release: { ID: 'fedora', ARCHITECTURE: 'arm64', SYSEXT_SCOPE: 'initrd' },
      refused: 'built for SYSEXT_SCOPE="initrd", this host merges in the "system" scope',
    },
  ]);

  it('in the initrd, an image without SYSEXT_SCOPE is refused (the default omits initrd)', () => {
    const initrd = host(DEBIAN, { scope: 'initrd' });
    expect(compatible('sysext', 'hello', DEBIAN, initrd)).toEqual({
      ok: false,
      reason:
        'built without SYSEXT_SCOPE= (meaning "system portable"), this host merges in the "initrd" scope',
    });
    const both = { ...DEBIAN, SYSEXT_SCOPE: 'initrd system' };
    expect(compatible('sysext', 'hello', both, initrd)).toEqual({ ok: true });
  });
});

describe('before any field: the host and the release data', () => {
  table([
    {
      why: 'no release data at all ("carries no release data")',
      release: {},
      refused: 'the image has no sysext release data (extension-release.hello missing or empty)',
    },
    {
      why: 'a host without ID merges nothing, not even `_any` (sysext.c merge_subprocess())',
      release: { ID: '_any' },
      os: { VERSION_ID: '12' },
      refused: "this host's os-release has no ID=, so systemd-sysext merges nothing",
    },
  ]);

  it('reads own fields only: an inherited ID is no ID', () => {
    const inherited = Object.create({ ID: 'debian' }) as ReleaseFields;
    expect(compatible('sysext', 'hello', inherited, host(DEBIAN))).toEqual({
      ok: false,
      reason: 'the image has no sysext release data (extension-release.hello missing or empty)',
    });
  });
});
