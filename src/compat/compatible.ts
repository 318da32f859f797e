// Would systemd-sysext / systemd-confext merge this image on this host? A port of
// extension_release_validate() (v252: src/shared/extension-release.c; v254 and later:
// src/shared/extension-util.c), with the host side as merge_subprocess() in
// src/sysext/sysext.c reads it; the rules themselves are in ./rules.ts, the differences
// between systemd releases in ./systemd-version.ts.
//
// Not modelled: --force (it skips all of this; the agent never passes it), and the checks of
// an image's content rather than its release fields: the release file must exist at
// releaseFilePath() under the image's name, and a sysext must not carry usr/lib/os-release
// (v252 validate_version(), v257 extension_has_forbidden_content()).
import type { ExtensionKind, HostRelease, ReleaseFields, Verdict } from './fields.ts';
import { RULES } from './rules.ts';
import { parseSystemdVersion } from './systemd-version.ts';

export {
  HOST_FIELDS,
  RELEASE_FIELDS,
  checkedFields,
  releaseFilePath,
  type ExtensionKind,
  type HostRelease,
  type ReleaseFields,
  type Verdict,
} from './fields.ts';
export { parseReleaseFile } from './release-file.ts';
export {
  SYSTEMD_ARCHITECTURES,
  architectureFromUname,
  systemdArchitecture,
} from './architecture.ts';
export { parseSystemdVersion, type SystemdVersion } from './systemd-version.ts';

/**
 * systemd's verdict on merging the image `name` of `kind`, whose release file parses to
 * `release`, on `host`. A refusal names the fields that disagree, in the words `check` and
 * `status` show an operator, e.g. `built for ID=fedora, this host is ID=debian`.
 */
export function compatible(
  kind: ExtensionKind,
  name: string,
  release: ReleaseFields,
  host: HostRelease,
): Verdict {
  const systemd = parseSystemdVersion(host.systemdVersion);
  if (systemd === undefined) {
    return { ok: false, reason: `unknown systemd version "${String(host.systemdVersion)}"` };
  }
  for (const rule of RULES) {
    const verdict = rule({ kind, name, release, host, systemd });
    if (verdict !== undefined) return verdict;
  }
  // "Version info of extension '%s' matches host."
  return { ok: true };
}
