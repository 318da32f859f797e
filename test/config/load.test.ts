// Host configuration, PRODUCT.md section 4: defaults, validation (CONFIG, exit 2), frozen result.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { exitCodeFor } from '../../src/errors.ts';
import { codeOf } from '../helpers/errors.ts';

const MINIMAL = {
  repositories: ['https://updates.example.com/stable/'],
  extensions: { hello: {} },
};

function parse(doc: unknown) {
  return parseConfig(JSON.stringify(doc), 'config.json');
}

async function asyncCodeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('parseConfig: defaults', () => {
  it('fills in every default of section 4', () => {
    const cfg = parse(MINIMAL);
    expect(cfg).toEqual({
      repositories: ['https://updates.example.com/stable/'],
      trustedKeys: '/etc/sysext-agent/keys',
      threshold: 1,
      extensions: { hello: { healthTimeoutSec: 30 } },
      keep: 2,
      veritySidecars: false,
      refresh: true,
      network: {
        connectTimeoutSec: 15,
        idleTimeoutSec: 30,
        attempts: 5,
        maxTotalSec: 900,
        documentTimeoutSec: 60,
        minBytesPerSec: 1024,
        rateWindowSec: 60,
      },
    });
  });

  it('keeps explicit values and fills the rest of a partial network block', () => {
    const cfg = parse({
      ...MINIMAL,
      trustedKeys: '/etc/keys/release.pub',
      threshold: 2,
      keep: 4,
      veritySidecars: true,
      refresh: false,
      extensions: { hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 5 } },
      network: { attempts: 2 },
    });
    expect(cfg.threshold).toBe(2);
    expect(cfg.keep).toBe(4);
    expect(cfg.veritySidecars).toBe(true);
    expect(cfg.refresh).toBe(false);
    expect(cfg.trustedKeys).toBe('/etc/keys/release.pub');
    expect(cfg.extensions['hello']).toEqual({
      healthCheck: ['/usr/bin/hello', '--selftest'],
      healthTimeoutSec: 5,
    });
    expect(cfg.network).toEqual({
      connectTimeoutSec: 15,
      idleTimeoutSec: 30,
      attempts: 2,
      maxTotalSec: 900,
      documentTimeoutSec: 60,
      minBytesPerSec: 1024,
      rateWindowSec: 60,
    });
  });

  it('adds a trailing slash to a repository URL without one, keeps one that has it', () => {
    const cfg = parse({
      ...MINIMAL,
      repositories: ['https://a.example/stable', 'http://b.example/x/', 'https://c.example'],
    });
    expect(cfg.repositories).toEqual([
      'https://a.example/stable/',
      'http://b.example/x/',
      'https://c.example/',
    ]);
    expect(new URL('manifest.json', cfg.repositories[0]).href).toBe(
      'https://a.example/stable/manifest.json',
    );
  });

  it('takes a local directory (absolute path or file:// URL) as a repository', () => {
    const cfg = parse({ ...MINIMAL, repositories: ['/media/usb/repo', 'file:///srv/repo/'] });
    expect(cfg.repositories).toEqual(['file:///media/usb/repo/', 'file:///srv/repo/']);
  });

  it('takes a pinned version per extension', () => {
    const cfg = parse({ ...MINIMAL, extensions: { hello: { pin: '1.0' } } });
    expect(cfg.extensions.hello?.pin).toBe('1.0');
  });

  it('two configurations do not share default objects', () => {
    const a = parse(MINIMAL);
    const b = parse(MINIMAL);
    expect(a.network).toEqual(b.network);
    expect(a.network).not.toBe(b.network);
  });
});

describe('parseConfig: errors give CONFIG', () => {
  const { repositories: _r, ...noRepositories } = MINIMAL;
  const { extensions: _e, ...noExtensions } = MINIMAL;
  it.each<[string, unknown]>([
    ['missing repositories', noRepositories],
    ['missing extensions', noExtensions],
    ['empty repositories', { ...MINIMAL, repositories: [] }],
    ['repositories not a list', { ...MINIMAL, repositories: 'https://a.example/' }],
    ['a relative repository', { ...MINIMAL, repositories: ['updates/stable/'] }],
    ['an ftp repository', { ...MINIMAL, repositories: ['ftp://a.example/'] }],
    ['a file URL with a host', { ...MINIMAL, repositories: ['file://server/srv/repo/'] }],
    ['a bad pin', { ...MINIMAL, extensions: { hello: { pin: '../1.0' } } }],
    ['keep 1', { ...MINIMAL, keep: 1 }],
    ['keep 2.5', { ...MINIMAL, keep: 2.5 }],
    ['threshold 0', { ...MINIMAL, threshold: 0 }],
    ['refresh as a string', { ...MINIMAL, refresh: 'yes' }],
    ['unknown top-level field', { ...MINIMAL, keepp: 3 }],
    ['unknown extension field', { ...MINIMAL, extensions: { hello: { healthcheck: ['x'] } } }],
    ['unknown network field', { ...MINIMAL, network: { timeoutSec: 3 } }],
    ['bad extension name', { ...MINIMAL, extensions: { hello_world: {} } }],
    ['empty health check', { ...MINIMAL, extensions: { hello: { healthCheck: [] } } }],
    ['negative timeout', { ...MINIMAL, network: { connectTimeoutSec: -1 } }],
    ['zero attempts', { ...MINIMAL, network: { attempts: 0 } }],
    ['an array', [MINIMAL]],
    ['null', null],
  ])('%s', (_label, doc) => {
    expect(codeOf(() => parse(doc))).toBe('CONFIG');
  });

  function messageOf(doc: unknown): string {
    try {
      parse(doc);
    } catch (err) {
      expect((err as { code?: string }).code).toBe('CONFIG');
      return (err as Error).message;
    }
    throw new Error('expected CONFIG');
  }

  it('a mistyped top-level key is named, with the field it probably means', () => {
    const { extensions, ...rest } = MINIMAL;
    const message = messageOf({ ...rest, extentions: extensions });
    expect(message).toContain('unknown field "extentions" (did you mean "extensions"?)');
    expect(message).toContain('missing required field "extensions"');
    expect(message).not.toContain('expected record');
  });

  it('unknown nested fields are named by their path, with a suggestion when one is close', () => {
    const message = messageOf({
      ...MINIMAL,
      extensions: { hello: { healtCheck: ['x'] } },
      network: { atempts: 3 },
      colour: 'blue',
    });
    expect(message).toContain(
      'unknown field "extensions.hello.healtCheck" (did you mean "healthCheck"?)',
    );
    expect(message).toContain('unknown field "network.atempts" (did you mean "attempts"?)');
    expect(message).toMatch(/unknown field "colour"(;|$)/);
  });

  it('a missing required field is named plainly; a wrong type names field and type', () => {
    const { repositories: _r, ...noRepositories } = MINIMAL;
    expect(messageOf(noRepositories)).toBe('config.json: missing required field "repositories"');
    expect(messageOf({ ...MINIMAL, threshold: 'two' })).toContain(
      'field "threshold": expected number, received string',
    );
    expect(messageOf([MINIMAL])).toContain('must be a JSON object');
  });

  it('invalid JSON gives CONFIG', () => {
    expect(codeOf(() => parseConfig('{"repositories": [', 'config.json'))).toBe('CONFIG');
    expect(codeOf(() => parseConfig('', 'config.json'))).toBe('CONFIG');
  });

  it('CONFIG is a usage error (exit 2)', () => {
    expect(exitCodeFor('CONFIG')).toBe(2);
  });
});

describe('parseConfig: the result is deeply frozen', () => {
  it('freezes every level', () => {
    const cfg = parse({
      ...MINIMAL,
      extensions: { hello: { healthCheck: ['/usr/bin/hello'] } },
    });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.repositories)).toBe(true);
    expect(Object.isFrozen(cfg.network)).toBe(true);
    expect(Object.isFrozen(cfg.extensions)).toBe(true);
    expect(Object.isFrozen(cfg.extensions['hello'])).toBe(true);
    expect(Object.isFrozen(cfg.extensions['hello']?.healthCheck)).toBe(true);
  });

  it('writes throw (ES modules are strict) and change nothing', () => {
    const cfg = parse(MINIMAL);
    expect(() => {
      (cfg as { keep: number }).keep = 9;
    }).toThrow(TypeError);
    expect(() => {
      (cfg.network as { attempts: number }).attempts = 1;
    }).toThrow(TypeError);
    expect(() => {
      (cfg.repositories as string[]).push('https://evil.example/');
    }).toThrow(TypeError);
    expect(cfg.keep).toBe(2);
    expect(cfg.network.attempts).toBe(5);
    expect(cfg.repositories).toHaveLength(1);
  });
});

describe('loadConfig', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and validates a file', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify({ ...MINIMAL, keep: 3 }));
    const cfg = await loadConfig(file);
    expect(cfg.keep).toBe(3);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('a missing file gives CONFIG, naming the file and what to do', async () => {
    const file = join(dir, 'absent.json');
    expect(await asyncCodeOf(() => loadConfig(file))).toBe('CONFIG');
    await expect(loadConfig(file)).rejects.toThrow(`${file}: file not found`);
    await expect(loadConfig(file)).rejects.toThrow('--config FILE');
  });

  it('a directory instead of a file gives CONFIG', async () => {
    expect(await asyncCodeOf(() => loadConfig(dir))).toBe('CONFIG');
  });

  it('invalid JSON in the file gives CONFIG', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{ repositories: nope }');
    expect(await asyncCodeOf(() => loadConfig(file))).toBe('CONFIG');
  });
});
