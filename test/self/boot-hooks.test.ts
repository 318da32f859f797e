/**
 * The boot-time hooks (src/self/boot-hooks.ts): written under the root when missing or
 * different, left alone (no write at all) when they are already right, the recover unit enabled
 * by a link, and a root where they cannot be written gives a coded error.
 */
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostPaths } from '../../src/config/paths.ts';
import { BOOT_FILES, bootFileTexts, installBootHooks } from '../../src/self/boot-hooks.ts';

const log = pino({ level: 'silent' });

describe('boot-time hooks', () => {
  let root = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sysext-agent-hooks-'));
  });
  afterEach(async () => {
    await chmod(root, 0o755).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('writes every file with its mode and links the recover unit into sysinit.target.wants', async () => {
    const written = await installBootHooks(hostPaths(root), log);
    expect(written).toHaveLength(BOOT_FILES.length + 1);
    const texts = await bootFileTexts();
    for (const f of BOOT_FILES) {
      expect(await readFile(join(root, f.target), 'utf8')).toBe(texts[f.source]);
      expect((await stat(join(root, f.target))).mode & 0o777).toBe(f.mode);
    }
    const link = join(
      root,
      'etc/systemd/system/sysinit.target.wants/sysext-agent-boot-recover.service',
    );
    expect(await readlink(link)).toBe('../sysext-agent-boot-recover.service');
  });

  it('a second run writes nothing; a changed or removed file is put back', async () => {
    await installBootHooks(hostPaths(root), log);
    const unit = join(root, 'etc/systemd/system/sysext-agent-rescue.service');
    const before = await lstat(unit);
    expect(await installBootHooks(hostPaths(root), log)).toEqual([]);
    expect((await lstat(unit)).ino).toBe(before.ino);
    await writeFile(unit, 'edited\n');
    await rm(join(root, 'var/lib/sysext-agent/boot/run-stored.sh'));
    expect((await installBootHooks(hostPaths(root), log)).sort()).toEqual([
      'etc/systemd/system/sysext-agent-rescue.service',
      'var/lib/sysext-agent/boot/run-stored.sh',
    ]);
  });

  it('an /etc that cannot be written gives IO, naming the fix', async () => {
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/systemd'), 'a file where a directory belongs');
    await expect(installBootHooks(hostPaths(root), log)).rejects.toMatchObject({ code: 'IO' });
  });
});
