/**
 * systemd's version asked once per installed systemd-sysext (src/systemd/version.ts), against
 * a fake tool on PATH that counts its calls: a cache hit starts no process, another tool (other
 * bytes) is asked again, a broken or missing cache only costs the query.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentCacheDir, parseVersionLine, systemdVersion } from '../../src/systemd/version.ts';

describe('systemd version, cached per tool', () => {
  let dir = '';
  const saved = process.env.PATH;
  const calls = () =>
    readFile(join(dir, 'calls'), 'utf8').then(
      (t) => t.trim().split('\n').length,
      () => 0,
    );
  async function fake(line: string): Promise<void> {
    const file = join(dir, 'bin/systemd-sysext');
    await writeFile(file, `#!/bin/sh\necho x >> '${join(dir, 'calls')}'\necho '${line}'\n`);
    await chmod(file, 0o755);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-version-'));
    await mkdir(join(dir, 'bin'));
    process.env.PATH = `${join(dir, 'bin')}:${saved ?? ''}`;
  });
  afterAll(async () => {
    process.env.PATH = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('parses the first line as systemd prints it', () => {
    expect(parseVersionLine('systemd 252 (252.39-1~deb12u2)\n+PAM')).toBe('252.39-1~deb12u2');
    expect(parseVersionLine('systemd 257\n')).toBe('257');
    expect(parseVersionLine('hello')).toBeNull();
  });

  it('asks once, then answers from the cache until the tool changes', async () => {
    const cache = join(dir, 'cache');
    await fake('systemd 252 (252.1-a)');
    expect(await systemdVersion(cache)).toBe('252.1-a');
    expect(await systemdVersion(cache)).toBe('252.1-a');
    expect(await calls()).toBe(1);
    await fake('systemd 257 (257.9-b)');
    expect(await systemdVersion(cache)).toBe('257.9-b');
    expect(await calls()).toBe(2);
  });

  it('a corrupt cache or none at all: the tool is asked', async () => {
    const cache = join(dir, 'cache2');
    await fake('systemd 256 (256.2)');
    const before = await calls();
    expect(await systemdVersion(cache)).toBe('256.2');
    await writeFile(join(cache, 'systemd-version.json'), '{"tool": 1');
    expect(await systemdVersion(cache)).toBe('256.2');
    expect(await systemdVersion(undefined)).toBe('256.2');
    expect(await calls()).toBe(before + 3);
  });

  it('a tool that fails or prints garbage: null, and nothing cached', async () => {
    const cache = join(dir, 'cache3');
    await fake('no version here');
    expect(await systemdVersion(cache)).toBeNull();
    await expect(readFile(join(cache, 'systemd-version.json'))).rejects.toThrow();
  });

  it('the cache directory: systemd CacheDirectory=, else the user cache, never /tmp', () => {
    expect(agentCacheDir({ CACHE_DIRECTORY: '/var/cache/sysext-agent:/x' })).toBe(
      '/var/cache/sysext-agent',
    );
    expect(agentCacheDir({ XDG_CACHE_HOME: '/h/c', HOME: '/h' })).toBe('/h/c/sysext-agent');
    expect(agentCacheDir({ HOME: '/root' })).toBe('/root/.cache/sysext-agent');
    expect(agentCacheDir({})).toBeUndefined();
  });
});
