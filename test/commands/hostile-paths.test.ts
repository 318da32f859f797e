/**
 * Acceptance (issue 11, classes 2, 7 and 8): what sits at a path the agent uses, planted by
 * someone else, through the CLI on a `--root` tree (no refresh), served by `serve` on 127.0.0.1.
 * Each case asserts the error code (or the warning and the skip), no "unexpected error", and
 * that the tree and a victim file and directory outside it are byte-for-byte as they were.
 *
 * - class 2: a planted `partial/NAME_VERSION.raw.part` symlink with a matching record is
 *   discarded (never resumed through, never renamed into the store); `images/NAME`, `images` and
 *   `partial` as symlinks to another directory are refused (FOREIGN_ENTRY), not written through;
 * - class 7: a directory at the activation path is left alone and said so; a directory, FIFO or
 *   dangling symlink named `*.pub` is skipped with a warning; `trustedKeys` naming /dev/zero or a
 *   FIFO is a configuration error (no endless read); a directory or a symlink at the lock path,
 *   a directory in partial/: FOREIGN_ENTRY;
 * - class 8: a corrupt journal, a directory where state.json or journal.json belongs, a file
 *   where the extension directory belongs: a coded error, no stack trace.
 */
import { execa } from 'execa';
import { copyFile, lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/serve/server.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { repoImage } from '../helpers/repo-manifest.ts';
import { makeSandbox, snapshot, type Sandbox, publishFixture } from '../helpers/sandbox.ts';

const NO_PROXY_ENV = { http_proxy: '', HTTP_PROXY: '', https_proxy: '', HTTPS_PROXY: '' };

describe('hostile paths: planted symlinks, what already sits at a path, coded errors', () => {
  let sb: Sandbox;
  let server: RunningServer;
  let hosts = 0;

  interface Host {
    root: string;
    state: string;
    ext: string;
    agent(...args: string[]): Promise<CliResult>;
    config(extra?: Record<string, unknown>): Promise<void>;
  }

  async function makeHost(): Promise<Host> {
    const root = join(sb.dir, `host-${++hosts}`);
    const state = join(root, 'var/lib/sysext-agent');
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    await mkdir(state, { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    const config = (extra: Record<string, unknown> = {}) =>
      writeFile(
        join(root, 'etc/sysext-agent/config.json'),
        JSON.stringify({
          repositories: [server.url],
          trustedKeys: sb.keysDir,
          extensions: { hello: {} },
          network: { attempts: 1 },
          ...extra,
        }),
      );
    await config();
    return {
      root,
      state,
      ext: join(root, 'var/lib/extensions'),
      config,
      agent: (...args) => runCli(['--root', root, '--json', ...args], NO_PROXY_ENV),
    };
  }

  /** The run failed with `code` and `exit`, said so in one coded line, and changed nothing. */
  async function refused(h: Host, args: string[], code: string, exit = 1): Promise<string> {
    const before = await snapshot(h.root);
    const outside = await snapshot(join(sb.dir, 'victim'));
    const r = await h.agent(...args);
    expect(r.exitCode, r.stderr).toBe(exit);
    const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code, error.message).toBe(code);
    expect(r.stderr).not.toContain('unexpected error');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await snapshot(h.root)).toEqual(before);
    expect(await snapshot(join(sb.dir, 'victim'))).toEqual(outside);
    return error.message;
  }

  const victimDir = () => join(sb.dir, 'victim/dir');

  beforeAll(async () => {
    sb = await makeSandbox();
    for (const v of ['1.0', '2.0']) await publishFixture(sb, v);
    await mkdir(victimDir(), { recursive: true });
    await writeFile(join(sb.dir, 'victim/file'), 'precious\n');
    await writeFile(join(victimDir(), 'kept'), 'precious too\n');
    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  describe('class 2: symlinks the agent did not make', () => {
    it('a planted partial symlink with a matching record is discarded, never resumed through', async () => {
      const h = await makeHost();
      const entry = await repoImage(sb.repo, 'hello', '2.0');
      const url = `${server.url}hello/hello_2.0.raw`;
      const head = await fetch(url, { method: 'HEAD' });
      // The first half of the real image, outside the tree: a resume would append the rest.
      const bytes = await readFile(join(sb.repo, entry.path));
      const outsideFile = join(sb.dir, 'victim/half.raw');
      await writeFile(outsideFile, bytes.subarray(0, bytes.length / 2));
      await mkdir(join(h.state, 'partial'), { recursive: true });
      const part = join(h.state, 'partial/hello_2.0.raw.part');
      await symlink(outsideFile, part);
      const meta = { url, etag: head.headers.get('etag'), size: entry.size, sha256: entry.sha256 };
      await writeFile(`${part}.meta`, JSON.stringify(meta));
      const outside = await snapshot(join(sb.dir, 'victim'));

      const r = await h.agent('update');
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('is a symbolic link');
      const stored = await lstat(join(h.state, 'images/hello/hello_2.0.raw'));
      expect(stored.isFile()).toBe(true);
      expect(await readFile(join(h.state, 'images/hello/hello_2.0.raw'))).toEqual(bytes);
      expect(await snapshot(join(sb.dir, 'victim'))).toEqual(outside);
    });

    it('images/NAME, images/ or partial/ as a symlink to another directory: FOREIGN_ENTRY', async () => {
      const h1 = await makeHost();
      await mkdir(join(h1.state, 'images'));
      await symlink(victimDir(), join(h1.state, 'images/hello'));
      expect(await refused(h1, ['update'], 'FOREIGN_ENTRY')).toContain('images/hello');

      const h2 = await makeHost();
      await symlink(victimDir(), join(h2.state, 'images'));
      await refused(h2, ['update'], 'FOREIGN_ENTRY');

      const h3 = await makeHost();
      await symlink(victimDir(), join(h3.state, 'partial'));
      expect(await refused(h3, ['update'], 'FOREIGN_ENTRY')).toContain('partial');
    });

    it('a stored image and the lock as symlinks: never followed', async () => {
      const h = await makeHost();
      await symlink('/dev/zero', join(h.state, 'lock'));
      expect(await refused(h, ['update'], 'FOREIGN_ENTRY')).toContain('lock');

      // A stored image replaced by a link to a copy outside: not taken for the verified file.
      const s = await makeHost();
      expect((await s.agent('update', 'hello@1.0')).exitCode).toBe(0);
      const entry = await repoImage(sb.repo, 'hello', '2.0');
      const copy = join(sb.dir, 'victim/copy.raw');
      await copyFile(join(sb.repo, entry.path), copy);
      await mkdir(join(s.state, 'images/hello'), { recursive: true });
      await symlink(copy, join(s.state, 'images/hello/hello_2.0.raw'));
      const outside = await snapshot(join(sb.dir, 'victim'));
      const r = await s.agent('update');
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await lstat(join(s.state, 'images/hello/hello_2.0.raw'))).isFile()).toBe(true);
      expect(await snapshot(join(sb.dir, 'victim'))).toEqual(outside);
    });
  });

  describe('class 7: what already sits at a path', () => {
    it('a directory at the activation path is left alone and said so', async () => {
      const h = await makeHost();
      await mkdir(join(h.ext, 'hello.raw'), { recursive: true });
      const before = await snapshot(h.ext);
      const r = await h.agent('update');
      expect(r.exitCode, r.stderr).toBe(0);
      const hello = JSON.parse(r.stdout).extensions.hello;
      expect(hello).toMatchObject({ result: 'skipped' });
      expect(hello.message).toContain('is a directory');
      expect(await snapshot(h.ext)).toEqual(before);
    });

    it('a file where the extension directory belongs: FOREIGN_ENTRY before anything changes', async () => {
      const h = await makeHost();
      await mkdir(join(h.root, 'var/lib'), { recursive: true });
      await writeFile(h.ext, 'not a directory\n');
      await refused(h, ['update'], 'FOREIGN_ENTRY');
    });

    it('a directory at the lock path or in partial/: FOREIGN_ENTRY, nothing removed', async () => {
      const h1 = await makeHost();
      await mkdir(join(h1.state, 'lock'));
      await writeFile(join(h1.state, 'lock/inside'), 'kept\n');
      expect(await refused(h1, ['update'], 'FOREIGN_ENTRY')).toContain('is a directory');

      const h2 = await makeHost();
      await mkdir(join(h2.state, 'partial/hello_2.0.raw.part'), { recursive: true });
      await writeFile(join(h2.state, 'partial/hello_2.0.raw.part/inside'), 'kept\n');
      expect(await refused(h2, ['update'], 'FOREIGN_ENTRY')).toContain('hello_2.0.raw.part');
    });

    it('a directory, a FIFO and a dangling symlink named *.pub are skipped with a warning', async () => {
      const h = await makeHost();
      // Outside the tree: snapshot() would read a FIFO in it forever.
      const keys = join(sb.dir, 'odd-keys');
      await mkdir(join(keys, 'dir.pub'), { recursive: true });
      await copyFile(join(sb.keysDir, 'publisher.pub'), join(keys, 'publisher.pub'));
      await execa('mkfifo', [join(keys, 'fifo.pub')]);
      await symlink('/nonexistent/key.pub', join(keys, 'dangling.pub'));
      await h.config({ trustedKeys: keys });
      const r = await h.agent('check');
      expect(r.exitCode, r.stderr).toBe(0);
      for (const why of [
        'dir.pub is a directory',
        'fifo.pub is a FIFO',
        'dangling.pub is a symbolic link',
      ])
        expect(r.stderr).toContain(why);
      // Only the FIFO left: no key, a configuration error naming it (no read that never ends).
      const only = join(sb.dir, 'only-fifo');
      await mkdir(only);
      await execa('mkfifo', [join(only, 'fifo.pub')]);
      await h.config({ trustedKeys: only });
      expect(await refused(h, ['check'], 'CONFIG', 2)).toContain('fifo.pub is a FIFO');
    });

    it('trustedKeys naming /dev/zero or a FIFO: CONFIG, not an endless read', async () => {
      const h = await makeHost();
      await h.config({ trustedKeys: '/dev/zero' });
      expect(await refused(h, ['check'], 'CONFIG', 2)).toContain('a device');
      const fifo = join(sb.dir, 'keys.fifo');
      await execa('mkfifo', [fifo]);
      await h.config({ trustedKeys: fifo });
      expect(await refused(h, ['check'], 'CONFIG', 2)).toContain('a FIFO');
    });
  });

  describe('class 8: every foreseeable failure is a coded error', () => {
    it('a corrupt journal: STATE_CORRUPT', async () => {
      const h = await makeHost();
      await writeFile(join(h.state, 'journal.json'), '{"schema": 1, "command": "upd');
      await refused(h, ['update'], 'STATE_CORRUPT');
    });

    it('a directory or a symlink where state.json or journal.json belongs: FOREIGN_ENTRY naming it, no stack trace', async () => {
      const h1 = await makeHost();
      await mkdir(join(h1.state, 'state.json'));
      expect(await refused(h1, ['status'], 'FOREIGN_ENTRY')).toContain('state.json');
      const h2 = await makeHost();
      await mkdir(join(h2.state, 'journal.json'));
      expect(await refused(h2, ['update'], 'FOREIGN_ENTRY')).toContain('journal.json');
      // A planted link to an endless device is never followed (nor read without a bound).
      const h3 = await makeHost();
      await symlink('/dev/zero', join(h3.state, 'state.json'));
      expect(await refused(h3, ['update'], 'FOREIGN_ENTRY')).toContain('state.json');
    });

    it('a file where the state directory belongs: FOREIGN_ENTRY', async () => {
      const h = await makeHost();
      await execa('rm', ['-r', h.state]);
      await writeFile(h.state, 'not a directory\n');
      await refused(h, ['update'], 'FOREIGN_ENTRY');
    });
  });
});
