/**
 * The signed payload of PRODUCT.md section 3, validated before anything is built from it.
 * Unknown fields are dropped here (they stay covered by the signature over the raw bytes).
 */
import { z } from 'zod';
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

const imageVersion = z
  .object({
    path: z
      .string()
      .refine(isSafeRelativePath, 'must be a relative path without "..", "//" or a scheme'),
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    sha256: hex64,
    verity,
  })
  .refine((v) => v.size % BLOCK_SIZE === 0, {
    message: `size must be a multiple of ${BLOCK_SIZE} (dm-verity data blocks)`,
    path: ['size'],
  });

const extension = z.object({
  kind: z.enum(['sysext', 'confext']),
  versions: z.record(versionString, imageVersion),
});

const isoDate = z.iso.datetime({ offset: true });

export const payloadSchema = z.object({
  schema: z.literal(1),
  serial: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  issued: isoDate,
  expires: isoDate,
  extensions: z.record(extensionName, extension),
});

export type ManifestPayload = z.infer<typeof payloadSchema>;
export type ImageEntry = z.infer<typeof imageVersion>;
export type VerityEntry = z.infer<typeof verity>;
export type ExtensionKind = z.infer<typeof extension>['kind'];
