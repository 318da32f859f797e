// The merge-time rules, one function each, in the order systemd applies them; the first
// verdict wins. "252:N / 257:M" cites the lines of extension_release_validate() in v252
// src/shared/extension-release.c and in v257.13 src/shared/extension-util.c; the logic is the
// same in both except where systemd-version.ts says so.
import {
  field,
  isEmpty,
  words,
  type ExtensionKind,
  type HostRelease,
  type ReleaseFields,
  type Verdict,
} from './fields.ts';
import {
  OLDEST_SYSTEMD,
  formatSystemdVersion,
  hasConfext,
  matchesIdLike,
  type ParsedSystemdVersion,
} from './systemd-version.ts';

export interface Check {
  readonly kind: ExtensionKind;
  readonly name: string;
  readonly release: ReleaseFields;
  readonly host: HostRelease;
  readonly systemd: ParsedSystemdVersion;
}

/** A verdict ends the validation; undefined goes on to the next rule. */
type Rule = (c: Check) => Verdict | undefined;

const OK: Verdict = { ok: true };
const refuse = (reason: string): Verdict => ({ ok: false, reason });
const upper = (kind: ExtensionKind): string => kind.toUpperCase();
const systemdName = (c: Check): string => `systemd ${formatSystemdVersion(c.systemd)}`;

/** This module knows the rules from v252 on (systemd-version.ts). */
const knownSystemd: Rule = (c) =>
  c.systemd.major < OLDEST_SYSTEMD
    ? refuse(
        `${systemdName(c)} predates ${OLDEST_SYSTEMD}, the oldest systemd whose merge rules this agent knows`,
      )
    : undefined;

/** systemd-confext exists from v254 on. */
const confextExists: Rule = (c) =>
  c.kind === 'confext' && !hasConfext(c.systemd)
    ? refuse(`systemd-confext needs systemd 254 or later, this host has ${systemdName(c)}`)
    : undefined;

/**
 * src/sysext/sysext.c merge_subprocess() (252:484 / 257:1682): "'ID' field not found or empty
 * in 'os-release'" fails the whole merge before any image is looked at.
 */
const hostHasId: Rule = (c) =>
  isEmpty(field(c.host.osRelease, 'ID'))
    ? refuse(`this host's os-release has no ID=, so systemd-${c.kind} merges nothing`)
    : undefined;

/** 252:25 / 257:31 `if (strv_isempty(extension_release))`: "carries no release data". */
const hasReleaseData: Rule = (c) =>
  Object.keys(c.release).length === 0
    ? refuse(
        `the image has no ${c.kind} release data (extension-release.${c.name} missing or empty)`,
      )
    : undefined;

/**
 * 252:30 / 257:36, SYSEXT_SCOPE / CONFEXT_SCOPE: its words must include the host's scope;
 * absent means "system portable"; present but empty (`SYSEXT_SCOPE=`) lists no scope at all.
 * "is not suitable for scope %s".
 */
const scope: Rule = (c) => {
  const name = `${upper(c.kind)}_SCOPE`;
  const hostScope = c.host.scope ?? 'system';
  const value = field(c.release, name);
  const scopes = value === undefined ? ['system', 'portable'] : words(value);
  if (scopes.includes(hostScope)) return undefined;
  const built =
    value === undefined
      ? `built without ${name}= (meaning "system portable")`
      : `built for ${name}="${value}"`;
  return refuse(`${built}, this host merges in the "${hostScope}" scope`);
};

/**
 * 252:54 / 257:60, ARCHITECTURE: absent, empty or `_any` matches, else it must equal
 * architecture_to_string(uname_architecture()). "is for architecture '%s', but deployed on top
 * of '%s'".
 */
const architecture: Rule = (c) => {
  const arch = field(c.release, 'ARCHITECTURE');
  if (isEmpty(arch) || arch === '_any' || arch === c.host.architecture) return undefined;
  return refuse(`built for ARCHITECTURE=${arch}, this host is ARCHITECTURE=${c.host.architecture}`);
};

/**
 * 252:62-80 / 257:68-96, ID: required; `_any` accepts at once (VERSION_ID and the level are
 * then not looked at); else equal to the host's ID or, from v257.8 (257:83-89), one of the
 * words of its ID_LIKE. "is for OS '%s', but deployed on top of '%s'".
 */
const id: Rule = (c) => {
  const ext = field(c.release, 'ID');
  const hostId = field(c.host.osRelease, 'ID') ?? '';
  if (isEmpty(ext)) return refuse(`built without ID=, this host needs ID=${hostId} or ID=_any`);
  if (ext === '_any') return OK;
  const like = words(field(c.host.osRelease, 'ID_LIKE') ?? '');
  if (ext === hostId || (matchesIdLike(c.systemd) && like.includes(ext))) return undefined;
  const base = `built for ID=${ext}, this host is ID=${hostId}`;
  if (like.length === 0) return refuse(base);
  if (matchesIdLike(c.systemd)) return refuse(`${base} (ID_LIKE=${like.join(' ')})`);
  const hint = like.includes(ext) ? '; ID_LIKE counts from systemd 257.8 on' : '';
  return refuse(`${base} (ID_LIKE=${like.join(' ')}, ignored by ${systemdName(c)}${hint})`);
};

/** 252:82 / 257:98: "No version info on the host (rolling release?), but ID ... matched". */
const rollingHost: Rule = (c) =>
  isEmpty(field(c.host.osRelease, 'VERSION_ID')) && isEmpty(hostLevel(c)) ? OK : undefined;

/**
 * 252:90-119 / 257:106-135: SYSEXT_LEVEL (CONFEXT_LEVEL for a confext, from v254) is compared
 * when both sides have it; otherwise VERSION_ID is, when the host has one ("does not contain
 * VERSION_ID", "is for OS '%s'"). A host with a level but no VERSION_ID and an image without a
 * level falls through every branch: accepted, as in systemd.
 */
const level: Rule = (c) => {
  const name = levelName(c.kind);
  const ext = field(c.release, name);
  const host = hostLevel(c);
  if (!isEmpty(host) && !isEmpty(ext)) {
    return ext === host ? OK : refuse(`built for ${name}=${ext}, this host is ${name}=${host}`);
  }
  const hostVersion = field(c.host.osRelease, 'VERSION_ID');
  if (isEmpty(hostVersion)) return OK;
  const extVersion = field(c.release, 'VERSION_ID');
  if (extVersion === hostVersion) return OK;
  const built = isEmpty(extVersion)
    ? 'built without VERSION_ID='
    : `built for VERSION_ID=${extVersion}`;
  const why = isEmpty(ext)
    ? isEmpty(host)
      ? ''
      : ` (with ${name}=${host} in the image, ${name} would be compared instead)`
    : ` (its ${name}=${ext} counts only when this host has ${name} too)`;
  return refuse(`${built}, this host is VERSION_ID=${hostVersion}${why}`);
};

/** v252 has no image class: its host level is always SYSEXT_LEVEL (and confext is refused). */
function levelName(kind: ExtensionKind): string {
  return `${upper(kind)}_LEVEL`;
}

function hostLevel(c: Check): string | undefined {
  return field(c.host.osRelease, levelName(c.kind));
}

export const RULES: readonly Rule[] = [
  knownSystemd,
  confextExists,
  hostHasId,
  hasReleaseData,
  scope,
  architecture,
  id,
  rollingHost,
  level,
];
