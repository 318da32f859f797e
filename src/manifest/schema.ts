/**
 * The signed payload of PRODUCT.md section 3, validated before anything is built from it.
 * Unknown fields are dropped here (they stay covered by the signature over the raw bytes).
 */
import { z } from 'zod';
import { emptyRecord } from '../version/own-record.ts';
import { isValidName, isValidVersion } from '../version/syntax.ts';

const HEX64 = /^[0-9a-fA-F]{64}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Segments of plain characters only: no scheme (no ':'), no '%'-escapes, no '?' or '#'. */
const PATH_SEGMENT = /^[A-Za-z0-9._~^+@=,-]+$/;

export const BLOCK_SIZE = 4096;

// One definition of the name and version rules (src/version/syntax.ts), for file names too.
export const extensionName = z.string().refine(isValidName, 'invalid extension name');
export const versionString = z.string().refine(isValidVersion, 'invalid version');

export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > 1024) return false;
  const segments = path.split('/');
  return segments.every((s) => PATH_SEGMENT.test(s) && s !== '.' && s !== '..');
}

const hex64 = z
  .string()
  .regex(HEX64, 'must be 64 hex digits')
  .transform((s) => s.toLowerCase());

const verity = z.object({
  rootHash: hex64,
  salt: z
    .string()
    .max(512)
    .regex(/^([0-9a-fA-F]{2})*$/, 'must be hex bytes')
    .transform((s) => s.toLowerCase()),
  uuid: z
    .string()
    .regex(UUID, 'must be a UUID')
    .transform((s) => s.toLowerCase()),
  hashAlgorithm: z.literal('sha256'),
  dataBlockSize: z.literal(BLOCK_SIZE),
  hashBlockSize: z.literal(BLOCK_SIZE),
});

/**
 * The fields of an image's own extension-release file that systemd checks at merge time
 * (PRODUCT.md section 3.1), as `publish` read them: ID, VERSION_ID, SYSEXT_LEVEL, ARCHITECTURE...
 */
const release = z
  .record(
    z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'must be an os-release field name'),
    z.string().max(1024),
  )
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 fields');

const imageFields = {
  path: z
    .string()
    .refine(isSafeRelativePath, 'must be a relative path without "..", "//" or a scheme'),
  size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  sha256: hex64,
  verity,
};

const blockMultiple = {
  message: `size must be a multiple of ${BLOCK_SIZE} (dm-verity data blocks)`,
  path: ['size'],
};

/** Schema 1: one image per version, no release fields. */
const imageV1 = z.object(imageFields).refine((v) => v.size % BLOCK_SIZE === 0, blockMultiple);

/** Schema 2: an image of a version, with the release fields it was built for. */
const imageV2 = z
  .object({ ...imageFields, release: release.optional() })
  .refine((v) => v.size % BLOCK_SIZE === 0, blockMultiple);

const versionV2 = z.object({
  images: z.array(imageV2).min(1).max(64),
  rollout: z.object({ percent: z.number().int().min(0).max(100) }).optional(),
});

const kind = z.enum(['sysext', 'confext']);

const isoDate = z.iso.datetime({ offset: true });

const header = {
  serial: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  issued: isoDate,
  expires: isoDate,
};

const payloadV1 = z.object({
  schema: z.literal(1),
  ...header,
  extensions: z.record(
    extensionName,
    z.object({ kind, versions: z.record(versionString, imageV1) }),
  ),
});

const payloadV2 = z.object({
  schema: z.literal(2),
  ...header,
  extensions: z.record(
    extensionName,
    z.object({ kind, versions: z.record(versionString, versionV2) }),
  ),
});

export type ImageEntry = z.infer<typeof imageV2>;
export type VerityEntry = z.infer<typeof verity>;
export type ExtensionKind = z.infer<typeof kind>;
export type ReleaseFields = Readonly<Record<string, string>>;

/** A version as the agent works with it, whichever schema the manifest had. */
export interface VersionEntry {
  images: ImageEntry[];
  /** Percent of hosts that take this version (PRODUCT.md section 3.1); 100 when absent. */
  rolloutPercent: number;
}

export interface ManifestPayload {
  schema: 1 | 2;
  serial: number;
  issued: string;
  expires: string;
  extensions: Record<string, { kind: ExtensionKind; versions: Record<string, VersionEntry> }>;
}

// The records of a normalized payload have no prototype: an extension or version named
// `constructor` or `toString` (both pass the rules) is found only when the manifest has it.
function normalizeV1(p: z.infer<typeof payloadV1>): ManifestPayload {
  const extensions: ManifestPayload['extensions'] = emptyRecord();
  for (const [name, ext] of Object.entries(p.extensions)) {
    const versions: Record<string, VersionEntry> = emptyRecord();
    for (const [v, image] of Object.entries(ext.versions))
      versions[v] = { images: [image], rolloutPercent: 100 };
    extensions[name] = { kind: ext.kind, versions };
  }
  return { ...p, extensions };
}

function normalizeV2(p: z.infer<typeof payloadV2>): ManifestPayload {
  const extensions: ManifestPayload['extensions'] = emptyRecord();
  for (const [name, ext] of Object.entries(p.extensions)) {
    const versions: Record<string, VersionEntry> = emptyRecord();
    for (const [v, entry] of Object.entries(ext.versions))
      versions[v] = { images: entry.images, rolloutPercent: entry.rollout?.percent ?? 100 };
    extensions[name] = { kind: ext.kind, versions };
  }
  return { ...p, extensions };
}

/** Schemas 1 and 2 (PRODUCT.md section 3.1: agents read both), normalized to one shape. */
export const payloadSchema = z
  .discriminatedUnion('schema', [payloadV1, payloadV2])
  .transform((p) => (p.schema === 1 ? normalizeV1(p) : normalizeV2(p)));

/** The schema 2 document for a payload (what `publish` signs). */
export function serializePayload(p: ManifestPayload): unknown {
  const extensions: Record<string, unknown> = {};
  for (const [name, ext] of Object.entries(p.extensions)) {
    const versions: Record<string, unknown> = {};
    for (const [v, entry] of Object.entries(ext.versions)) {
      versions[v] = {
        images: entry.images,
        ...(entry.rolloutPercent < 100 ? { rollout: { percent: entry.rolloutPercent } } : {}),
      };
    }
    extensions[name] = { kind: ext.kind, versions };
  }
  return { schema: 2, serial: p.serial, issued: p.issued, expires: p.expires, extensions };
}
