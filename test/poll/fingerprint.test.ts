/**
 * The fingerprint of a poll record's inputs (src/poll/fingerprint.ts) changes with every change
 * a plan could see, including those that keep a file's size and mtime, and not with the lock
 * taken and released beside them.
 */
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, firstDifference, MAX_LINES } from '../../src/poll/fingerprint.ts';

describe('poll record fingerprint', () => {
  let dir = '';
  let state = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-fp-'));
    state = join(dir, 'state');
    await mkdir(join(state, 'images/hello'), { recursive: true });
    await writeFile(join(state, 'state.json'), '{"a":1}\n');
    await writeFile(join(state, 'images/hello/hello_1.0.raw'), 'image');
    await symlink('../state/images/hello/hello_1.0.raw', join(dir, 'hello.raw'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const inputs = (): string[] => [state, join(dir, 'hello.raw'), join(dir, 'os-release')];
  const lock = (): string => join(state, 'lock');
  const now = (): string[] => fingerprint(inputs(), [lock()]);

  it('is the same for an unchanged tree, and lists absent paths as absent', () => {
    const a = now();
    expect(now()).toEqual(a);
    expect(a.find((l) => l.startsWith(join(dir, 'os-release')))).toMatch(/ ENOENT$/);
  });

  const changes: [string, () => Promise<unknown>][] = [
    [
      'same bytes rewritten, mtime put back',
      async () => {
        const f = join(state, 'state.json');
        const before = await stat(f);
        await writeFile(f, await readFile(f));
        await utimes(f, before.atime, before.mtime);
      },
    ],
    [
      'replaced by rename (a new inode)',
      async () => {
        await writeFile(join(state, 'tmp'), '{"a":1}\n');
        await rename(join(state, 'tmp'), join(state, 'state.json'));
      },
    ],
    ['a file added deep in a directory', () => writeFile(join(state, 'images/hello/x'), '')],
    ['a file removed', () => unlink(join(state, 'images/hello/hello_1.0.raw'))],
    ['a mode changed', () => chmod(join(state, 'state.json'), 0o600)],
    [
      'a symlink pointing elsewhere',
      async () => {
        await unlink(join(dir, 'hello.raw'));
        await symlink('../state/images/hello/other.raw', join(dir, 'hello.raw'));
      },
    ],
    ['an absent input appearing', () => writeFile(join(dir, 'os-release'), 'ID=debian\n')],
  ];

  for (const [what, change] of changes) {
    it(`changes when ${what}`, async () => {
      const before = now();
      // Some file systems keep ctime in whole jiffies: let the clock move on.
      await new Promise((r) => setTimeout(r, 20));
      await change();
      const after = now();
      expect(after).not.toEqual(before);
      expect(firstDifference(before, after)).toMatch(new RegExp(`^${dir}`));
    });
  }

  it('does not change with the lock taken and released, which touches the directory', async () => {
    const before = now();
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(lock(), '1 2\n');
    expect(now()).toEqual(before);
    await unlink(lock());
    expect(now()).toEqual(before);
  });

  it('refuses a tree of more than MAX_LINES entries', async () => {
    const many = join(state, 'many');
    await mkdir(many);
    await Promise.all(
      Array.from({ length: MAX_LINES + 1 }, (_, i) => writeFile(join(many, String(i)), '')),
    );
    expect(() => now()).toThrow(RangeError);
  });
});
