// The vocabulary of the compatibility check: what a release file is, what systemd knows of the
// host, and which fields it reads (extension_release_validate(), v252
// src/shared/extension-release.c, v257.13 src/shared/extension-util.c; the host side is
// parse_os_release() in merge_subprocess(), src/sysext/sysext.c).
import type { SystemdVersion } from './systemd-version.ts';

export type ExtensionKind = 'sysext' | 'confext';
/** A parsed os-release or extension-release file (parseReleaseFile()). */
export type ReleaseFields = Readonly<Record<string, string>>;

export interface HostRelease {
  /** The host's os-release (`/etc/os-release`, else `/usr/lib/os-release`), parsed. */
  readonly osRelease: ReleaseFields;
  /** systemd's name for the kernel's machine: architectureFromUname(os.machine()). */
  readonly architecture: string;
  readonly systemdVersion: SystemdVersion;
  /** sysext.c passes `in_initrd() ? "initrd" : "system"`; the agent runs on "system" (default). */
  readonly scope?: 'system' | 'initrd';
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The image's fields systemd reads, for `publish` to record in the manifest. */
export const RELEASE_FIELDS: Readonly<Record<ExtensionKind, readonly string[]>> = {
  sysext: ['ID', 'VERSION_ID', 'SYSEXT_LEVEL', 'ARCHITECTURE', 'SYSEXT_SCOPE'],
  confext: ['ID', 'VERSION_ID', 'CONFEXT_LEVEL', 'ARCHITECTURE', 'CONFEXT_SCOPE'],
};

/** The host's os-release fields systemd reads (ID_LIKE from v257.8 on). */
export const HOST_FIELDS: Readonly<Record<ExtensionKind, readonly string[]>> = {
  sysext: ['ID', 'ID_LIKE', 'VERSION_ID', 'SYSEXT_LEVEL'],
  confext: ['ID', 'ID_LIKE', 'VERSION_ID', 'CONFEXT_LEVEL'],
};

/**
 * The fields of RELEASE_FIELDS[kind] that `release` has: what publish records. The verdict on
 * them is the verdict on the whole file (systemd reads no other field; a file without any of
 * them is refused either way, for having no ID).
 */
export function checkedFields(kind: ExtensionKind, release: ReleaseFields): Record<string, string> {
  return Object.fromEntries(
    RELEASE_FIELDS[kind].flatMap((k) => {
      const v = field(release, k);
      return v === undefined ? [] : [[k, v]];
    }),
  );
}

/**
 * Where systemd looks for the release file of image `name` (the image file name without
 * `.raw`): image_class_release_info in src/basic/os-util.c (v257.13; v252 has the sysext path
 * only, in open_extension_release()).
 */
export function releaseFilePath(kind: ExtensionKind, name: string): string {
  const dir = kind === 'sysext' ? 'usr/lib/extension-release.d' : 'etc/extension-release.d';
  return `${dir}/extension-release.${name}`;
}

/** A field as strv_env_pairs_get() finds it: own keys only (no `toString` from a prototype). */
export function field(fields: ReleaseFields, key: string): string | undefined {
  return Object.hasOwn(fields, key) ? fields[key] : undefined;
}

/** systemd's isempty(): an absent field and `KEY=` are the same. */
export function isEmpty(v: string | undefined): v is '' | undefined {
  return v === undefined || v === '';
}

/** strv_split(s, WHITESPACE): words between runs of " \t\n\r", empty ones dropped. */
export function words(s: string): string[] {
  return s.split(/[ \t\n\r]+/).filter((w) => w !== '');
}
