/**
 * `rescue` over a fake systemd (no root): which entries it takes out of the merge and how. The
 * fake's trial merge fails for an image whose bytes are not those the fake store writes, so a
 * "corrupt" version is one whose stored file was overwritten.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRescue } from '../../src/commands/rescue.ts';
import { activate } from '../../src/store/activation.ts';
import { storedImage } from '../../src/store/layout.ts';
import { readState, writeState, type AgentState } from '../../src/store/state.ts';
import type { RescueEnv } from '../../src/rescue/managed.ts';
import { tempHost, type TempHost } from '../helpers/fake-ports.ts';

describe('rescue', () => {
  let h: TempHost;
  let env: RescueEnv;
  const rescued = () => join(h.paths.stateDir, 'rescued/sysext');

  beforeEach(async () => {
    h = await tempHost();
    env = {
      paths: h.paths,
      log: pino({ level: 'silent' }),
      rootOption: h.paths.root,
      now: () => new Date('2026-11-26T12:00:00Z'),
      systemd: h.systemd,
    };
  });
  afterEach(() => h.cleanup());

  /** NAME with `versions` stored, `current` activated (and recorded) with `previous`. */
  async function installed(name: string, current: string, previous: string | null) {
    await h.store(name, ...[previous, current].filter((v): v is string => v !== null));
    await activate(h.paths, 'sysext', name, current, false);
    const state: AgentState = await readState(h.paths.stateFile);
    state.extensions[name] = {
      kind: 'sysext',
      current,
      previous,
      quarantined: [],
      interrupted: {},
      lastResult: null,
    };
    await writeState(h.paths.stateFile, state);
  }
  const corrupt = (name: string, version: string) =>
    writeFile(storedImage(h.paths, name, version).image, 'random bytes');
  const link = (name: string) => readlink(join(h.paths.sysextDir, `${name}.raw`));

  it('nothing to rescue: one full trial, nothing touched', async () => {
    await installed('hello', '2.0', '1.0');
    const report = await runRescue(env);
    expect(report).toMatchObject({ exitCode: 0, rescued: [], mergeOk: true });
    expect(report.kinds).toEqual({ sysext: 'merges', confext: 'merges' });
    expect(h.systemd.trials.filter((t) => t.kind === 'sysext')).toEqual([
      { kind: 'sysext', root: h.paths.root },
    ]);
    expect(await link('hello')).toBe('../sysext-agent/images/hello/hello_2.0.raw');
  });

  it('a managed version that does not merge: quarantined, the previous one switched in', async () => {
    await installed('sysext-agent', '2.0', '1.0');
    await corrupt('sysext-agent', '2.0');
    const report = await runRescue(env);
    expect(report).toMatchObject({ exitCode: 0, mergeOk: true, kinds: { sysext: 'rescued' } });
    expect(report.rescued).toEqual([
      expect.objectContaining({
        name: 'sysext-agent',
        action: 'switched-to-previous',
        version: '2.0',
        switchedTo: '1.0',
        entry: join(h.paths.sysextDir, 'sysext-agent.raw'),
      }),
    ]);
    expect(report.rescued[0]?.reason).toMatch(/Failed to read metadata/);
    expect(await link('sysext-agent')).toBe(
      '../sysext-agent/images/sysext-agent/sysext-agent_1.0.raw',
    );
    const ext = (await readState(h.paths.stateFile)).extensions['sysext-agent'];
    expect(ext).toMatchObject({ current: '1.0', previous: null });
    expect(ext?.quarantined).toEqual([
      expect.objectContaining({
        version: '2.0',
        reason: expect.stringMatching(/Failed to read metadata/),
      }),
    ]);
    // The stand-in was tried alone, linked as activate() links it, before it was switched in.
    expect(h.systemd.trials).toContainEqual({
      kind: 'sysext',
      root: h.paths.root,
      only: {
        dir: h.paths.sysextDir,
        files: [
          {
            name: 'sysext-agent.raw',
            link: '../sysext-agent/images/sysext-agent/sysext-agent_1.0.raw',
          },
        ],
      },
    });
  });

  it('a managed version without a previous one that merges: deactivated', async () => {
    await installed('hello', '2.0', '1.0');
    await corrupt('hello', '2.0');
    await corrupt('hello', '1.0');
    await installed('world', '1.0', null);
    const report = await runRescue(env);
    expect(report).toMatchObject({ exitCode: 0, mergeOk: true });
    expect(report.rescued).toEqual([
      expect.objectContaining({ name: 'hello', action: 'deactivated', version: '2.0' }),
    ]);
    expect(existsSync(join(h.paths.sysextDir, 'hello.raw'))).toBe(false);
    expect(await link('world')).toBe('../sysext-agent/images/world/world_1.0.raw');
    const state = await readState(h.paths.stateFile);
    expect(state.extensions.hello).toMatchObject({ current: null });
    expect(state.extensions.hello?.quarantined.map((q) => q.version)).toEqual(['2.0']);
    // Nothing is deleted from the store: an update or a rollback may still want it.
    expect(existsSync(storedImage(h.paths, 'hello', '2.0').image)).toBe(true);
  });

  it('an entry the agent does not manage is moved aside under a name that collides with none', async () => {
    await installed('hello', '1.0', null);
    await mkdir(rescued(), { recursive: true });
    await writeFile(join(rescued(), 'bad.raw'), 'moved by an earlier rescue');
    await writeFile(join(h.paths.sysextDir, 'bad.raw'), 'random bytes');
    await writeFile(join(h.paths.sysextDir, 'bad.roothash'), 'ab12\n');
    const report = await runRescue(env);
    expect(report).toMatchObject({ exitCode: 0, mergeOk: true });
    expect(report.rescued).toEqual([
      expect.objectContaining({
        name: 'bad',
        action: 'moved',
        entry: join(h.paths.sysextDir, 'bad.raw'),
        movedTo: join(rescued(), 'bad.1.raw'),
        sidecarsMovedTo: [join(rescued(), 'bad.1.roothash')],
      }),
    ]);
    expect(await readFile(join(rescued(), 'bad.raw'), 'utf8')).toBe('moved by an earlier rescue');
    expect(await readFile(join(rescued(), 'bad.1.raw'), 'utf8')).toBe('random bytes');
    expect(existsSync(join(h.paths.sysextDir, 'bad.raw'))).toBe(false);
    expect(existsSync(join(h.paths.sysextDir, 'bad.roothash'))).toBe(false);
    expect(await link('hello')).toBe('../sysext-agent/images/hello/hello_1.0.raw');
  });

  it('a foreign symlink is moved as a symlink, not followed', async () => {
    const target = join(h.paths.root, 'elsewhere.raw');
    await writeFile(target, 'random bytes');
    await symlink(target, join(h.paths.sysextDir, 'foreign.raw'));
    const report = await runRescue(env);
    expect(report.rescued).toEqual([expect.objectContaining({ action: 'moved', name: 'foreign' })]);
    expect((await lstat(join(rescued(), 'foreign.raw'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(rescued(), 'foreign.raw'))).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('random bytes');
  });

  it('still failing after rescue (the cause is elsewhere): RESCUE_INCOMPLETE, exit 4', async () => {
    await installed('hello', '1.0', null);
    h.systemd.brokenElsewhere = 'Failed to read metadata for image other: Package not installed';
    const report = await runRescue(env);
    expect(report.error?.code).toBe('RESCUE_INCOMPLETE');
    expect(report).toMatchObject({ exitCode: 4, mergeOk: false, rescued: [] });
    expect(report.kinds.sysext).toBe('still-failing');
    expect(report.error?.message).toMatch(/systemd-sysext refresh/);
    expect(await link('hello')).toBe('../sysext-agent/images/hello/hello_1.0.raw');
  });

  it('an entry that cannot be moved: RESCUE_MOVE_FAILED, exit 4, the entry left in place', async () => {
    await mkdir(join(h.paths.stateDir, 'rescued'), { recursive: true });
    await writeFile(rescued(), 'a file where the rescued directory should be');
    await writeFile(join(h.paths.sysextDir, 'bad.raw'), 'random bytes');
    const report = await runRescue(env);
    expect(report.error?.code).toBe('RESCUE_MOVE_FAILED');
    expect(report.exitCode).toBe(4);
    expect(await readFile(join(h.paths.sysextDir, 'bad.raw'), 'utf8')).toBe('random bytes');
  });

  it('trial merges that fail with nothing to merge: UNSUPPORTED, nothing changed', async () => {
    await writeFile(join(h.paths.sysextDir, 'bad.raw'), 'random bytes');
    h.systemd.brokenAlways = 'unshare: unshare failed: Operation not permitted';
    await expect(runRescue(env)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(existsSync(join(h.paths.sysextDir, 'bad.raw'))).toBe(true);
  });

  it('confext is skipped when systemd-confext is not installed', async () => {
    h.systemd.tools = new Set(['sysext']);
    await writeFile(join(h.paths.confextDir, 'bad.raw'), 'random bytes');
    const report = await runRescue(env);
    expect(report.kinds).toEqual({ sysext: 'merges', confext: 'no-tool' });
    expect(h.systemd.trials.some((t) => t.kind === 'confext')).toBe(false);
    expect(existsSync(join(h.paths.confextDir, 'bad.raw'))).toBe(true);
  });

  it('confext entries are rescued like sysext ones when the tool exists', async () => {
    await writeFile(join(h.paths.confextDir, 'bad.raw'), 'random bytes');
    const report = await runRescue(env);
    expect(report.kinds).toEqual({ sysext: 'merges', confext: 'rescued' });
    expect(report.rescued).toEqual([
      expect.objectContaining({
        kind: 'confext',
        movedTo: join(h.paths.stateDir, 'rescued/confext/bad.raw'),
      }),
    ]);
  });
});
