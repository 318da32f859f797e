/**
 * The execa edge to systemd-sysext and losetup, against fake tools on PATH (no root): what each
 * answer becomes, and that failures, garbage and timeouts are errors with code MERGE_FAILED
 * (which the transaction turns into the way back), never a crash or a silent "merged".
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemdTools } from '../../src/systemd/tools.ts';

describe('systemd tools through execa', () => {
  let dir = '';
  const saved = process.env.PATH;
  const tools = systemdTools();
  const target = { kind: 'sysext' as const, root: undefined };

  async function fake(name: string, script: string): Promise<void> {
    await writeFile(join(dir, name), `#!/bin/sh\n${script}\n`);
    await chmod(join(dir, name), 0o755);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-tools-'));
    process.env.PATH = `${dir}:${saved ?? ''}`;
  });
  afterAll(async () => {
    process.env.PATH = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('status: names per hierarchy, "none" as no names', async () => {
    await fake(
      'systemd-sysext',
      `echo '[{"hierarchy":"/usr","extensions":["a","b"]},{"hierarchy":"/opt","extensions":"none"}]'`,
    );
    const merged = await tools.merged(target);
    expect(merged.get('/usr')).toEqual(['a', 'b']);
    expect(merged.get('/opt')).toEqual([]);
  });

  it.each([
    ['exits 1', 'echo "Failed to open" >&2; exit 1'],
    ['prints no JSON', 'echo "hello world"'],
    ['prints a JSON object', `echo '{"hierarchy":"/usr"}'`],
  ])('status that %s: MERGE_FAILED', async (_what, script) => {
    await fake('systemd-sysext', script);
    await expect(tools.merged(target)).rejects.toMatchObject({ code: 'MERGE_FAILED' });
  });

  it('refresh that fails: MERGE_FAILED with its output', async () => {
    await fake('systemd-sysext', 'echo "Failed to merge: Device busy" >&2; exit 1');
    const err = await tools.refresh(target).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MERGE_FAILED' });
    expect((err as Error).message).toContain('Device busy');
  });

  it('refresh passes --root= when the agent has one', async () => {
    await fake('systemd-sysext', `[ "$2" = "--root=/some/where" ] || exit 3`);
    await expect(tools.refresh({ kind: 'sysext', root: '/some/where' })).resolves.toBeUndefined();
  });

  it('losetup: no devices is "not backed"; garbage or failure is MERGE_FAILED', async () => {
    const image = join(dir, 'image.raw');
    await writeFile(image, 'x');
    await fake('losetup', 'exit 0');
    expect(await tools.loopBackedBy(image)).toBe(false);
    await fake('losetup', 'echo "not json"');
    await expect(tools.loopBackedBy(image)).rejects.toMatchObject({ code: 'MERGE_FAILED' });
    await fake('losetup', 'echo "losetup: cannot open /dev/loop-control" >&2; exit 1');
    await expect(tools.loopBackedBy(image)).rejects.toMatchObject({ code: 'MERGE_FAILED' });
  });

  it('hasTool finds executables on PATH only', async () => {
    await fake('systemd-confext', 'exit 0');
    expect(await tools.hasTool('confext')).toBe(true);
    await chmod(join(dir, 'systemd-confext'), 0o644);
    process.env.PATH = dir;
    expect(await tools.hasTool('confext')).toBe(false);
    process.env.PATH = `${dir}:${saved ?? ''}`;
  });
});
