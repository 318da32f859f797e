/**
 * The single-file agent (scripts/bundle.ts: dist/sysext-agent.mjs and the agent's own image)
 * keeps what makes a poll start fast (docs/performance.md "Start-up"), checked as behaviour,
 * not time: no static import (so no ES facade of a builtin: node:http's loads Node's internal
 * undici), a poll that loads none of the builtins it does not use, and a poll that starts no
 * process once systemd's version is cached.
 */
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAgent, rereadBundle } from '../../scripts/bundle.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { VerityTreeBuilder } from '../../src/verity/tree.ts';
import { PROJECT } from '../helpers/cli.ts';

/** Builtins a poll has no use for, which the modules it loads name at their top. */
const NOT_LOADED = [
  'NativeModule child_process',
  'NativeModule zlib',
  'NativeModule sqlite',
  'NativeModule internal/deps/undici/undici',
];

describe('the bundled agent', () => {
  let dir = '';
  let bundle = '';
  let server: RunningServer | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-bundle-'));
    bundle = join(dir, 'sysext-agent.mjs');
    await bundleAgent(bundle, '0.0.0-test');
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is ASCII with no import statement: builtins come from process.getBuiltinModule', async () => {
    const reread = await rereadBundle(bundle);
    const imports = Object.values(reread.outputs).flatMap((o) => o.imports);
    expect(imports.filter((i) => i.kind === 'import-statement')).toEqual([]);
    const text = await readFile(bundle, 'utf8');
    expect(text).not.toMatch(/^import .* from ["']node:https?["']/m);
    // ASCII only: Node reads it as a one-byte string (a single non-ASCII letter doubles that).
    expect(text).not.toMatch(/[\u0080-\uffff]/);
  });

  it('a poll (304) loads no unused builtin and, with a cache, starts no process', async () => {
    server = await startServer({
      root: join(PROJECT, 'fixtures/repo'),
      host: '127.0.0.1',
      port: 0,
    });
    const root = join(dir, 'root');
    await mkdir(join(root, 'etc/sysext-agent/keys'), { recursive: true });
    await copyFile(
      join(PROJECT, 'keys/TEST-ONLY-insecure-test-vector-key.pub'),
      join(root, 'etc/sysext-agent/keys/test.pub'),
    );
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ repositories: [server.url], extensions: { hello: {} } }),
    );
    // A systemd-sysext that records each call: with --root the agent only asks its version.
    const bin = join(dir, 'bin');
    const calls = join(dir, 'calls');
    await mkdir(bin);
    await writeFile(
      join(bin, 'systemd-sysext'),
      `#!/bin/sh\necho "$*" >> '${calls}'\necho 'systemd 252 (252.1-test)'\n`,
    );
    await chmod(join(bin, 'systemd-sysext'), 0o755);
    const loaded = join(dir, 'loaded');
    const recorder = join(dir, 'record-modules.mjs');
    await writeFile(
      recorder,
      "process.on('exit', () => process.getBuiltinModule('node:fs').writeFileSync(" +
        "process.env.LOADED, process.moduleLoadList.join('\\n')));\n",
    );
    const run = () =>
      execa(
        process.execPath,
        ['--import', recorder, bundle, '--root', root, '--config', config, 'update'],
        {
          reject: false,
          stdin: 'ignore',
          extendEnv: false,
          env: {
            PATH: `${bin}:${process.env.PATH ?? ''}`,
            HOME: join(dir, 'home'),
            LOADED: loaded,
          },
        },
      );

    const install = await run();
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/^hello: staged/m);
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual(['--version']);

    const stateFile = join(root, 'var/lib/sysext-agent/state.json');
    const before = (await stat(stateFile, { bigint: true })).mtimeNs;
    const poll = await run();
    expect(poll.exitCode, poll.stderr).toBe(0);
    expect(poll.stdout).toMatch(/^hello: up-to-date/m);
    // The manifest was answered 304: the state was not written again.
    expect((await stat(stateFile, { bigint: true })).mtimeNs).toBe(before);
    // systemd's version came from the cache (~/.cache/sysext-agent): no second call.
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual(['--version']);
    const modules = (await readFile(loaded, 'utf8')).split('\n');
    expect(modules).toContain('NativeModule crypto');
    for (const m of NOT_LOADED) expect(modules, m).not.toContain(m);

    // That quiet run left its record (src/poll/): the next poll is answered from it, before the
    // rest of the agent is evaluated. It needs no HTTP client, no crypto and no worker thread,
    // and asks systemd nothing; the record is read, not written.
    const recordFile = join(root, 'var/lib/sysext-agent/poll.json');
    const written = (await stat(recordFile, { bigint: true })).mtimeNs;
    const answered = await run();
    expect(answered.exitCode, answered.stderr).toBe(0);
    expect(answered.stdout).toBe(poll.stdout);
    expect((await stat(recordFile, { bigint: true })).mtimeNs).toBe(written);
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toEqual(['--version']);
    const fast = (await readFile(loaded, 'utf8')).split('\n');
    expect(fast).toContain('NativeModule net');
    const unused = ['http', 'crypto', 'worker_threads'].map((m) => `NativeModule ${m}`);
    for (const m of [...NOT_LOADED, ...unused]) expect(fast, m).not.toContain(m);
  }, 60_000);

  it('hashes on worker threads: `verity` of a 16 MiB image equals the in-process builder', async () => {
    // The workers run from their source text, outside the bundle's scope: a name the bundler
    // gave a builtin (require_node_fs) would not exist there.
    const image = join(dir, 'big.raw');
    await writeFile(image, randomBytes(16 * 1024 * 1024));
    const salt = randomBytes(32);
    const uuid = '01234567-89ab-cdef-0123-456789abcdef';
    const r = await execa(
      process.execPath,
      [bundle, 'verity', image, '--salt', salt.toString('hex'), '--uuid', uuid],
      { env: { SYSEXT_AGENT_HASH_THREADS: '2' }, reject: false },
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const builder = new VerityTreeBuilder({ salt, uuid });
    builder.update(await readFile(image));
    expect(r.stdout.trim()).toBe(builder.digest().rootHash);
  }, 60_000);
});
