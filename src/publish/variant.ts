/**
 * Where `publish` stores an image in the repository (PRODUCT.md section 3.1: images of one
 * version for different architectures or OS releases side by side). Pure.
 *
 *   NAME/NAME_VERSION.raw            an image for every host: ID=_any, no ARCHITECTURE
 *   NAME/VARIANT/NAME_VERSION.raw    any other: VARIANT names what the image was built for
 *
 * VARIANT is ARCHITECTURE (or "any"), then, when ID is not `_any`, ID, VERSION_ID and the level
 * (`level-` + SYSEXT_LEVEL or CONFEXT_LEVEL), each present part joined by "_":
 * `arm64`, `x86-64_fedora_40`, `any_debian_12`, `arm64_fedora_level-2`. A part with a character
 * not allowed in a manifest path becomes "-" there, a long VARIANT is cut at 80 characters, and
 * then, so that two different releases never share a path, `~` and the first 8 hex digits of
 * the SHA-256 of the release fields are appended (also when two releases that differ only in
 * fields VARIANT does not show, such as SYSEXT_SCOPE, are published for one version).
 */
import { createHash } from 'node:crypto';
import { field, isEmpty, type ExtensionKind, type ReleaseFields } from '../compat/fields.ts';

const PART_CHAR = /[^A-Za-z0-9.~^+@=,-]/g;
const MAX_VARIANT = 80;

/** The same release fields, whatever their order. */
export function sameRelease(a: ReleaseFields, b: ReleaseFields): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => field(b, k) === a[k]);
}

/** First 8 hex digits of the SHA-256 of the release fields, sorted by name. */
export function releaseDigest(release: ReleaseFields): string {
  const sorted = Object.keys(release)
    .sort()
    .map((k) => [k, release[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 8);
}

/**
 * The VARIANT directory for an image with these (checked) release fields; '' for an image every
 * host may merge as far as architecture and OS go (stored at NAME/NAME_VERSION.raw).
 */
export function variantOf(kind: ExtensionKind, release: ReleaseFields): string {
  const arch = field(release, 'ARCHITECTURE');
  const id = field(release, 'ID');
  const parts: string[] = [isEmpty(arch) || arch === '_any' ? 'any' : arch];
  if (!isEmpty(id) && id !== '_any') {
    parts.push(id);
    const versionId = field(release, 'VERSION_ID');
    if (!isEmpty(versionId)) parts.push(versionId);
    const level = field(release, kind === 'sysext' ? 'SYSEXT_LEVEL' : 'CONFEXT_LEVEL');
    if (!isEmpty(level)) parts.push(`level-${level}`);
  }
  if (parts.length === 1 && parts[0] === 'any') return '';
  const raw = parts.join('_');
  // No "/" and no "_" inside a part; no leading "." (a hidden or "..", path segment).
  let variant = parts.map((p) => p.replace(PART_CHAR, '-')).join('_');
  variant = variant.replace(/^\./, '-').slice(0, MAX_VARIANT);
  return variant === raw ? variant : `${variant}~${releaseDigest(release)}`;
}

/** The repository path of an image in `variant` ('' = none). */
export function imagePath(name: string, version: string, variant: string): string {
  const file = `${name}_${version}.raw`;
  return variant === '' ? `${name}/${file}` : `${name}/${variant}/${file}`;
}

/**
 * The path for a new image of a version, given the paths its other images (of other releases)
 * already use: the VARIANT path, or, should that be taken, the VARIANT with the release digest.
 */
export function pathForNewImage(
  kind: ExtensionKind,
  name: string,
  version: string,
  release: ReleaseFields,
  taken: ReadonlySet<string>,
): string | undefined {
  const variant = variantOf(kind, release);
  const first = imagePath(name, version, variant);
  if (!taken.has(first)) return first;
  const digest = releaseDigest(release);
  if (variant.endsWith(`~${digest}`)) return undefined;
  const second = imagePath(name, version, `${variant === '' ? 'any' : variant}~${digest}`);
  return taken.has(second) ? undefined : second;
}
