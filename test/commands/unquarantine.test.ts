/**
 * `unquarantine` and `vacuum` of quarantined images in process, over a temp root (no root, no
 * tools): which entries are forgotten, what is a usage error, which images go.
 */
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatUnquarantine, runUnquarantine } from '../../src/commands/unquarantine.ts';
import { formatVacuum, runVacuum } from '../../src/commands/vacuum.ts';
import type { AgentContext } from '../../src/commands/context.ts';
import type { Config } from '../../src/config/schema.ts';
import { AgentError } from '../../src/errors.ts';
import { storedImage } from '../../src/store/layout.ts';
import { readState, writeState, type ExtensionState } from '../../src/store/state.ts';
import { tempHost, type TempHost } from '../helpers/fake-ports.ts';

describe('unquarantine and vacuum (in process)', () => {
  let h: TempHost;
  let ctx: AgentContext;
  const at = '2026-11-26T12:00:00.000Z';

  beforeEach(async () => {
    h = await tempHost();
    const config = { extensions: { hello: {} }, keep: 2 } as unknown as Config;
    ctx = { paths: h.paths, config, log: pino({ level: 'silent' }) } as unknown as AgentContext;
  });
  afterEach(() => h.cleanup());

  async function withState(name: string, ext: Partial<ExtensionState>): Promise<void> {
    const state = await readState(h.paths.stateFile);
    state.extensions[name] = {
      kind: 'sysext',
      current: '1.0',
      previous: null,
      quarantined: [],
      interrupted: {},
      lastResult: null,
      ...ext,
    };
    await writeState(h.paths.stateFile, state);
  }
  const usage = async (p: Promise<unknown>) => {
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe('USAGE');
    return (err as AgentError).message;
  };

  it('forgets the versions named, keeps the others, says what is left', async () => {
    await withState('hello', {
      quarantined: [
        { version: '2.0', reason: 'health check failed', at, activated: false },
        { version: '3.0', reason: 'rolled back', at, activated: true },
      ],
      interrupted: { '2.0': 2 },
    });
    const r = await runUnquarantine(ctx, 'hello', ['2.0', '9.9']);
    expect(r).toEqual({
      name: 'hello',
      forgotten: [{ version: '2.0', reason: 'health check failed', at }],
      notQuarantined: ['9.9'],
      quarantined: ['3.0'],
    });
    const text = formatUnquarantine(r);
    expect(text).toMatch(/hello 2\.0: quarantine forgotten \(was: health check failed/);
    expect(text).toMatch(/note: hello 9\.9 was not quarantined/);
    expect(text).toMatch(/hello 3\.0 is still quarantined/);
    const ext = (await readState(h.paths.stateFile)).extensions.hello;
    expect(ext).toMatchObject({ interrupted: {}, quarantined: [{ version: '3.0' }] });
  });

  it('nothing quarantined: state untouched, said so', async () => {
    await withState('hello', {});
    const r = await runUnquarantine(ctx, 'hello', []);
    expect(r.forgotten).toEqual([]);
    expect(formatUnquarantine(r)).toBe('hello: nothing quarantined');
  });

  it('an extension no longer configured but still in the state can be unquarantined', async () => {
    await withState('old', { quarantined: [{ version: '1.1', reason: 'x', at }] });
    const r = await runUnquarantine(ctx, 'old', []);
    expect(r.forgotten.map((f) => f.version)).toEqual(['1.1']);
  });

  it('configured, never installed: nothing to forget, not an error', async () => {
    const r = await runUnquarantine(ctx, 'hello', ['1.0']);
    expect(r).toMatchObject({ forgotten: [], notQuarantined: ['1.0'], quarantined: [] });
  });

  it('an unknown name or a bad version is a usage error (exit 2), naming it', async () => {
    await withState('hello', {});
    expect(await usage(runUnquarantine(ctx, 'nosuch', []))).toMatch(/"nosuch"/);
    expect(await usage(runUnquarantine(ctx, 'hello', ['../2.0']))).toMatch(/\.\.\/2\.0/);
  });

  it('vacuum deletes the images of quarantined versions that never were current, whatever keep says', async () => {
    await h.store('hello', '1.0', '2.0', '3.0');
    await withState('hello', {
      current: '1.0',
      quarantined: [
        { version: '2.0', reason: 'health check failed', at, activated: false },
        { version: '3.0', reason: 'rolled back', at, activated: true },
      ],
    });
    const report = await runVacuum(ctx);
    expect(report.quarantinedDeleted).toEqual([
      { name: 'hello', version: '2.0', reason: 'health check failed' },
    ]);
    expect(report.deleted).toEqual([]);
    expect(existsSync(storedImage(h.paths, 'hello', '2.0').image)).toBe(false);
    expect(existsSync(storedImage(h.paths, 'hello', '3.0').image)).toBe(true);
    expect(formatVacuum(report)).toMatch(
      /deleted hello 2\.0 \(quarantined, never current: health check failed\)/,
    );
    // The entry stays: 2.0 is still not taken unattended.
    const ext = (await readState(h.paths.stateFile)).extensions.hello;
    expect(ext?.quarantined.map((q) => q.version)).toEqual(['2.0', '3.0']);
    expect(formatVacuum(await runVacuum(ctx))).toBe('nothing to delete');
  });
});
