// The fields systemd reads (for publish to record in the manifest) and where an image keeps
// its release file (image_class_release_info, src/basic/os-util.c v257.13).
import { describe, expect, it } from 'vitest';
import {
  HOST_FIELDS,
  RELEASE_FIELDS,
  checkedFields,
  compatible,
  parseReleaseFile,
  releaseFilePath,
  type HostRelease,
} from '../../src/compat/compatible.ts';

const FILE = [
  'ID=debian',
  'VERSION_ID=12',
  'SYSEXT_LEVEL=1.0',
  'CONFEXT_LEVEL=2',
  'ARCHITECTURE=x86-64',
  'SYSEXT_SCOPE="system portable"',
  'NAME="hello tools"',
  'BUILD_ID=42',
  '',
].join('\n');

describe('RELEASE_FIELDS / checkedFields', () => {
  it('lists what extension_release_validate() reads, per kind', () => {
    expect(RELEASE_FIELDS.sysext).toEqual([
      'ID',
      'VERSION_ID',
      'SYSEXT_LEVEL',
      'ARCHITECTURE',
      'SYSEXT_SCOPE',
    ]);
    expect(RELEASE_FIELDS.confext).toEqual([
      'ID',
      'VERSION_ID',
      'CONFEXT_LEVEL',
      'ARCHITECTURE',
      'CONFEXT_SCOPE',
    ]);
    expect(HOST_FIELDS.sysext).toEqual(['ID', 'ID_LIKE', 'VERSION_ID', 'SYSEXT_LEVEL']);
    expect(HOST_FIELDS.confext).toEqual(['ID', 'ID_LIKE', 'VERSION_ID', 'CONFEXT_LEVEL']);
  });

  it('keeps only the checked fields that are present', () => {
    const release = parseReleaseFile(FILE);
    expect(checkedFields('sysext', release)).toEqual({
      ID: 'debian',
      VERSION_ID: '12',
      SYSEXT_LEVEL: '1.0',
      ARCHITECTURE: 'x86-64',
      SYSEXT_SCOPE: 'system portable',
    });
    expect(checkedFields('confext', release)).toEqual({
      ID: 'debian',
      VERSION_ID: '12',
      CONFEXT_LEVEL: '2',
      ARCHITECTURE: 'x86-64',
    });
    expect(checkedFields('sysext', { ID: '', NAME: 'x' })).toEqual({ ID: '' });
  });

  it('gives the same verdict on the recorded fields as on the whole file', () => {
    const release = parseReleaseFile(FILE);
    const hosts: HostRelease[] = [
      {
        osRelease: { ID: 'debian', VERSION_ID: '12' },
        architecture: 'x86-64',
        systemdVersion: 252,
      },
      {
        osRelease: { ID: 'debian', VERSION_ID: '13' },
        architecture: 'x86-64',
        systemdVersion: 257,
      },
      {
        osRelease: { ID: 'debian', SYSEXT_LEVEL: '1.1' },
        architecture: 'x86-64',
        systemdVersion: 257,
      },
      { osRelease: { ID: 'debian', VERSION_ID: '12' }, architecture: 'arm64', systemdVersion: 257 },
    ];
    const verdicts = hosts.map((h) => compatible('sysext', 'hello', release, h));
    expect(verdicts.map((v) => v.ok)).toEqual([true, false, false, false]);
    for (const [i, h] of hosts.entries()) {
      expect(compatible('sysext', 'hello', checkedFields('sysext', release), h)).toEqual(
        verdicts[i],
      );
    }
  });
});

describe('releaseFilePath', () => {
  it('is under usr/lib for a sysext and etc for a confext, named after the image', () => {
    expect(releaseFilePath('sysext', 'hello')).toBe(
      'usr/lib/extension-release.d/extension-release.hello',
    );
    expect(releaseFilePath('confext', 'hello')).toBe(
      'etc/extension-release.d/extension-release.hello',
    );
  });
});
