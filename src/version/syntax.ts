// Syntax of extension names, versions and image file names, PRODUCT.md §3:
// "Names match `^[A-Za-z0-9][A-Za-z0-9.+-]*$` without `_`; versions match
// `^[A-Za-z0-9][A-Za-z0-9._~^+-]*$` (both at most 128 characters; the first `_` of a file name
// `NAME_VERSION.raw` separates the two)".

/** PRODUCT.md §3: both names and versions are at most 128 characters. */
export const MAX_LENGTH = 128;

// No `_` in names, so the first `_` of a file name unambiguously ends the name.
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;
// Versions may contain `_`; compareVersions() treats it (and `+`) as an ignored separator.
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._~^+-]*$/;

const IMAGE_SUFFIX = '.raw';

export function isValidName(name: string): boolean {
  return name.length <= MAX_LENGTH && NAME_RE.test(name);
}

export function isValidVersion(version: string): boolean {
  return version.length <= MAX_LENGTH && VERSION_RE.test(version);
}

/**
 * Splits `NAME_VERSION.raw` at its first `_`; `undefined` unless the suffix is there and both
 * halves are valid. A bare file name is expected: a `/` makes the name invalid.
 */
export function parseImageFileName(
  fileName: string,
): { name: string; version: string } | undefined {
  if (!fileName.endsWith(IMAGE_SUFFIX)) return undefined;
  const stem = fileName.slice(0, -IMAGE_SUFFIX.length);
  const sep = stem.indexOf('_');
  if (sep < 0) return undefined;
  const name = stem.slice(0, sep);
  const version = stem.slice(sep + 1);
  if (!isValidName(name) || !isValidVersion(version)) return undefined;
  return { name, version };
}
