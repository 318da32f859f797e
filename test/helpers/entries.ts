/** Manifest image entries for planning tests: only path and release matter there. */
import type { ImageEntry } from '../../src/manifest/schema.ts';

export function imageEntry(path: string, release?: Record<string, string>): ImageEntry {
  return {
    path,
    size: 4096,
    sha256: '0'.repeat(64),
    verity: {
      rootHash: '1'.repeat(64),
      salt: '',
      uuid: '00000000-0000-0000-0000-000000000000',
      hashAlgorithm: 'sha256',
      dataBlockSize: 4096,
      hashBlockSize: 4096,
    },
    ...(release ? { release } : {}),
  };
}
