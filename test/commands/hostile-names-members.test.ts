/**
 * Object members as names (issue 11, class 3). `constructor`, `toString`, `hasOwnProperty` and
 * `valueOf` pass the name rule; as an extension in the config or the manifest they crashed the
 * agent, and once recorded in state (or a journal) every later recover, update and rollback
 * crashed. Now they are extensions like any other: published, installed, updated, rolled back,
 * quarantined, forgotten, removed; a state or journal naming them is recovered normally; a
 * `__proto__` key (never a valid name) is a coded error with the sandbox unchanged. The CLI runs
 * as a user would, on a `--root` tree (nothing merged, no root needed).
 */
import { copyFile, cp, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/serve/server.ts';
import { PROJECT, runCli, type CliResult } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const MEMBERS = ['constructor', 'toString'] as const;
const UNPUBLISHED = ['hasOwnProperty', 'valueOf'] as const;

interface StateDoc {
  extensions: Record<
    string,
    {
      current: string | null;
      previous: string | null;
      quarantined: { version: string; reason: string }[];
      interrupted: Record<string, number>;
    }
  >;
}

describe.skipIf(missing('mksquashfs'))('Object members as extension names', () => {
  let sb: Sandbox;
  let server: Awaited<ReturnType<typeof startServer>>;
  let n = 0;
  const stateDir = (root: string) => join(root, 'var/lib/sysext-agent');
  const readStateDoc = async (root: string) =>
    JSON.parse(await readFile(join(stateDir(root), 'state.json'), 'utf8')) as StateDoc;
  /** By a `string` key: TypeScript types `x.constructor` as the Object member, as JS used to. */
  const entry = (state: StateDoc, name: string) => state.extensions[name];
  const link = (root: string, name: string) =>
    readlink(join(root, 'var/lib/extensions', `${name}.raw`));

  /** Runs the CLI; never a crash: the exit is expected, and no "unexpected error". */
  async function agent(root: string, exit: number, ...args: string[]): Promise<CliResult> {
    const r = await runCli(['--root', root, '--json', '--log-level', 'silent', ...args]);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(exit);
    expect(r.stderr).not.toContain('unexpected error');
    return r;
  }
  const json = (r: CliResult) => JSON.parse(r.stdout);

  async function publish(...images: string[]): Promise<void> {
    const r = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, ...images]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const image = (name: string, version: string) => join(sb.images, `${name}_${version}.raw`);

  async function fresh(template: string): Promise<string> {
    const root = join(sb.dir, `root-${n++}`);
    await cp(join(sb.dir, template), root, { recursive: true, verbatimSymlinks: true });
    return root;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    for (const name of MEMBERS) await buildImages(sb.images, ['1.0', '2.0'], { name });
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), image('hello', '1.0'));
    // The name rule lets publish take them: the repository gets them like any other name.
    await publish(image('hello', '1.0'), ...MEMBERS.map((m) => image(m, '1.0')));
    const etc = join(sb.dir, 'template/etc/sysext-agent');
    await mkdir(join(etc, 'keys'), { recursive: true });
    await copyFile(join(sb.keysDir, 'publisher.pub'), join(etc, 'keys/publisher.pub'));
    const extensions = Object.fromEntries(
      ['hello', ...MEMBERS, ...UNPUBLISHED].map((name) => [name, {}]),
    );
    await writeFile(
      join(etc, 'config.json'),
      JSON.stringify({ repositories: [server.url], extensions }),
    );
    const first = await agent(join(sb.dir, 'template'), 0, 'update');
    for (const m of MEMBERS)
      expect(json(first).extensions[m]).toMatchObject({ result: 'staged', to: '1.0' });
    for (const m of UNPUBLISHED)
      expect(json(first).extensions[m]).toMatchObject({ result: 'skipped' });
    await publish(...MEMBERS.map((m) => image(m, '2.0')));
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('config and manifest: the whole lifecycle works for them', async () => {
    const root = await fresh('template');
    expect(await link(root, 'constructor')).toBe(
      '../sysext-agent/images/constructor/constructor_1.0.raw',
    );
    const check = await agent(root, 0, 'check');
    expect(json(check).extensions.toString).toMatchObject({ current: '1.0', action: 'update' });
    const update = await agent(root, 0, 'update');
    for (const m of MEMBERS)
      expect(json(update).extensions[m]).toMatchObject({ from: '1.0', to: '2.0' });
    await agent(root, 0, 'rollback', 'constructor');
    expect(await link(root, 'constructor')).toContain('constructor_1.0.raw');
    let state = await readStateDoc(root);
    expect(entry(state, 'constructor')).toMatchObject({ current: '1.0' });
    expect(entry(state, 'constructor')?.quarantined.map((q) => q.version)).toEqual(['2.0']);
    const status = json(await agent(root, 0, 'status'));
    expect(status.extensions.constructor).toMatchObject({ current: '1.0' });
    expect(status.extensions.hasOwnProperty).toMatchObject({ current: null });
    await agent(root, 0, 'unquarantine', 'constructor');
    await agent(root, 0, 'update', 'constructor');
    expect(await link(root, 'constructor')).toContain('constructor_2.0.raw');
    // Not installed, only configured: the usual answers, not a crash.
    expect(json(await agent(root, 1, 'rollback', 'valueOf')).error.code).toBe('NOT_INSTALLED');
    expect(json(await agent(root, 0, 'remove', 'hasOwnProperty')).extensions).toMatchObject({
      hasOwnProperty: { result: 'skipped' },
    });
    await agent(root, 0, 'remove', 'toString');
    expect(existsSync(join(stateDir(root), 'images/toString'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/extensions/toString.raw'))).toBe(false);
    state = await readStateDoc(root);
    expect(Object.hasOwn(state.extensions, 'toString')).toBe(false);
    await agent(root, 0, 'vacuum');
    await agent(root, 0, 'recover');
  });

  it('state: entries and versions named after members are read, kept and used', async () => {
    const root = await fresh('template');
    const state = await readStateDoc(root);
    const base = { kind: 'sysext', current: 'toString', previous: null, lastResult: null };
    Object.assign(state.extensions, {
      hasOwnProperty: { ...base, quarantined: [], interrupted: { valueOf: 1 } },
      valueOf: {
        ...base,
        quarantined: [{ version: 'constructor', reason: 'bad', at: '2026-01-01T00:00:00Z' }],
        interrupted: {},
      },
    });
    await writeFile(join(stateDir(root), 'state.json'), JSON.stringify(state));
    await agent(root, 0, 'recover');
    await agent(root, 0, 'update');
    const status = json(await agent(root, 0, 'status'));
    expect(status.extensions.valueOf).toMatchObject({ current: 'toString' });
    const before = await snapshot(sb.dir);
    expect(json(await agent(root, 1, 'rollback', 'hasOwnProperty')).error.code).toBe('NO_PREVIOUS');
    expect(await snapshot(sb.dir)).toEqual(before);
    await agent(root, 0, 'unquarantine', 'valueOf', 'constructor');
    const after = await readStateDoc(root);
    expect(entry(after, 'valueOf')?.quarantined).toEqual([]);
    expect(entry(after, 'hasOwnProperty')?.interrupted).toEqual({ valueOf: 1 });
  });

  it('journal: a transaction of member-named extensions cut off is recovered', async () => {
    const root = await fresh('template');
    const journal = {
      schema: 1,
      command: 'update',
      phase: 'back',
      step: 'revert:constructor',
      moves: [
        { name: 'constructor', kind: 'sysext', from: '1.0', to: '2.0', fromSidecars: false },
        { name: 'toString', kind: 'sysext', from: '1.0', to: '2.0', fromSidecars: false },
      ],
      // Only toString failed: constructor was rolled back with the rest, never quarantined.
      failures: { toString: 'toString 2.0: health check failed' },
      failureCode: 'HEALTH_FAILED',
      sidecars: false,
      refresh: false,
      root: root,
      startedAt: '2026-11-26T12:00:00Z',
    };
    await writeFile(join(stateDir(root), 'journal.json'), JSON.stringify(journal));
    const r = json(await agent(root, 0, 'recover'));
    expect(r).toMatchObject({ recovered: true, outcome: 'rolled-back' });
    expect(existsSync(join(stateDir(root), 'journal.json'))).toBe(false);
    const state = await readStateDoc(root);
    expect(entry(state, 'toString')?.quarantined).toMatchObject([
      { version: '2.0', reason: 'toString 2.0: health check failed' },
    ]);
    expect(entry(state, 'constructor')?.quarantined).toEqual([]);
    for (const m of MEMBERS) expect(await link(root, m)).toContain(`${m}_1.0.raw`);
  });

  describe('__proto__, never a valid name: a coded error, nothing touched', () => {
    async function refused(root: string, args: string[], code: string, exit: number) {
      const before = await snapshot(sb.dir);
      const r = await agent(root, exit, ...args);
      expect(json(r).error.code).toBe(code);
      expect(await snapshot(sb.dir)).toEqual(before);
    }
    const withProto = (text: string, at: string, value: string) =>
      text.replace(at, `${at}"__proto__":${value},`);

    it('in the config: CONFIG, exit 2', async () => {
      const root = await fresh('template');
      const file = join(root, 'etc/sysext-agent/config.json');
      await writeFile(file, withProto(await readFile(file, 'utf8'), '"extensions":{', '{}'));
      await refused(root, ['update'], 'CONFIG', 2);
    });

    it('in the state: STATE_CORRUPT, exit 1', async () => {
      const root = await fresh('template');
      const file = join(stateDir(root), 'state.json');
      const entry = '{"kind":"sysext","current":"1.0","previous":null}';
      await writeFile(file, withProto(await readFile(file, 'utf8'), '"extensions": {', entry));
      await refused(root, ['update'], 'STATE_CORRUPT', 1);
    });

    it('in the journal: STATE_CORRUPT, exit 1', async () => {
      const root = await fresh('template');
      const text = JSON.stringify({
        schema: 1,
        command: 'update',
        phase: 'back',
        step: 'revert-prove',
        moves: [{ name: 'constructor', kind: 'sysext', from: '1.0', to: '2.0' }],
        failures: {},
        sidecars: false,
        refresh: false,
        root: null,
        startedAt: '2026-11-26T12:00:00Z',
      });
      await writeFile(join(stateDir(root), 'journal.json'), withProto(text, '"failures":{', '"x"'));
      await refused(root, ['recover'], 'STATE_CORRUPT', 1);
    });
  });
});
