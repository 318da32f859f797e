/**
 * The bench's images: a real squashfs (publish reads its extension-release; built by
 * fixtures/make-images.sh) followed by random bytes, which unsquashfs never reads.
 */
import { randomFillSync } from 'node:crypto';
import { mkdtemp, open, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { timed } from './run.ts';

const MiB = 1024 * 1024;

/** Writes `path`: `mib` MiB, the image of extension `name` at `version`. Scratch goes in `work`. */
export async function writeRandomImage(
  project: string,
  work: string,
  path: string,
  name: string,
  version: string,
  mib: number,
): Promise<void> {
  const fsDir = await mkdtemp(join(work, 'fs-'));
  let fs: Buffer;
  try {
    const script = join(project, 'fixtures/make-images.sh');
    await timed(work, 'bash', [script, '--out', fsDir, '--name', name, version]);
    fs = await readFile(join(fsDir, `${name}_${version}.raw`));
  } finally {
    await rm(fsDir, { recursive: true, force: true });
  }
  if (fs.length > MiB) throw new Error(`the squashfs of ${name} is over 1 MiB: ${fs.length}`);
  const buf = Buffer.allocUnsafe(MiB);
  const file = await open(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      randomFillSync(buf);
      if (i === 0) fs.copy(buf);
      await file.write(buf, 0, MiB, i * MiB);
    }
  } finally {
    await file.close();
  }
}

/** MiB available to an unprivileged writer in the file system holding `dir`. */
export async function freeMiB(dir: string): Promise<number> {
  const s = await statfs(dir);
  return Math.floor((s.bavail * s.bsize) / MiB);
}
