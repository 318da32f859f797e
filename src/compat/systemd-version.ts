// Which systemd release a host runs, and the merge-time behaviours that changed between the
// releases this agent supports (252, Debian 12's, up to 257, the current one). Each feature
// below names the release and the source that introduced it, as read in:
//   - systemd-stable tags v252 .. v256 (src/shared/extension-release.c, later
//     src/shared/extension-util.c; src/basic/env-file.c),
//   - the v257.13 release tarball (src/shared/extension-util.c, src/sysext/sysext.c).
// Releases after 257 are taken to keep 257.13's rules (not verified here).

/**
 * A systemd version as a host reports it: a bare major (`252`) or the package version that
 * `systemctl --version` prints in parentheses (`"252.39-1~deb12u2"`, `"257.13"`). A bare major
 * means its first release, `.0`: the point release matters for ID_LIKE (see below).
 */
export type SystemdVersion = number | string;

export interface ParsedSystemdVersion {
  readonly major: number;
  /** The stable point release (`13` in 257.13), 0 when not given. */
  readonly point: number;
}

/** The oldest systemd whose merge rules this module was checked against. */
export const OLDEST_SYSTEMD = 252;

/** `252`, `"252"`, `"252.39"`, `"257.13-1~deb13u1"`; undefined for anything else. */
export function parseSystemdVersion(version: SystemdVersion): ParsedSystemdVersion | undefined {
  if (typeof version === 'number') {
    return Number.isSafeInteger(version) && version >= 0 ? { major: version, point: 0 } : undefined;
  }
  const m = /^(\d+)(?:\.(\d+))?(?![\d.])/.exec(version.trim());
  if (m === null) return undefined;
  const major = Number(m[1]);
  const point = m[2] === undefined ? 0 : Number(m[2]);
  return Number.isSafeInteger(major) && Number.isSafeInteger(point) ? { major, point } : undefined;
}

export function formatSystemdVersion(v: ParsedSystemdVersion): string {
  return v.point === 0 ? String(v.major) : `${v.major}.${v.point}`;
}

/**
 * systemd-confext, CONFEXT_LEVEL and CONFEXT_SCOPE first shipped in v254 (the `image_class`
 * parameter of extension_release_validate(), src/shared/extension-util.c). v252 and v253 have
 * no confext at all.
 */
export function hasConfext(v: ParsedSystemdVersion): boolean {
  return v.major >= 254;
}

/**
 * Matching the extension's ID against the host's ID_LIKE list: systemd PR #37648 (v258), which
 * was backported to the v257 stable branch by PR #38128 after v257.7 was out (the backport
 * label was dropped on 2025-06-24, while 257.7 was being prepared; the manual backport followed
 * on 2025-07-09), so it appears in v257.8. v257.13's src/shared/extension-util.c has it;
 * v252 .. v256 do not. 257.8 as the first release is inferred from those dates. When only
 * the major 257 is known we take 257.0, which is the safe side: ID_LIKE only ever widens
 * the match, so leaving it out can hold an image back but never pick one systemd refuses.
 */
export function matchesIdLike(v: ParsedSystemdVersion): boolean {
  return v.major > 257 || (v.major === 257 && v.point >= 8);
}

/**
 * env-file parsing, COMMENT_ESCAPE state: until v253 a comment line ending in a backslash
 * swallowed the next line too; from v254 (commit cd93ec5ed2, "basic/env-file: also change to
 * state PRE_KEY if we see NEWLINE in state COMMENT_ESCAPE") the comment ends at the newline.
 */
export function commentEndsAtEscapedNewline(v: ParsedSystemdVersion): boolean {
  return v.major >= 254;
}
