/**
 * The script of a trial merge, read as text (running it needs root: rescue.real.test.ts does).
 * It hides every search directory of the kind under the root, shows only the files asked for,
 * binds files through descriptors opened before their directory was hidden, and passes --root
 * and --no-reload as the systemd release wants.
 */
import { describe, expect, it } from 'vitest';
import { shellQuote, trialScript } from '../../src/systemd/trial-script.ts';

describe('trialScript', () => {
  const only = {
    dir: '/r/var/lib/extensions',
    files: [
      { name: 'a.raw', source: '/r/var/lib/extensions/a.raw', directory: false },
      { name: 'a.roothash', link: '../sysext-agent/x.roothash' },
      { name: 'tree', source: '/r/var/lib/extensions/tree', directory: true },
    ],
  };

  it('a full trial hides nothing and runs refresh', () => {
    const s = trialScript({ kind: 'sysext', root: undefined }, false);
    expect(s).not.toMatch(/extensions/);
    expect(s.split('\n').at(-1)).toBe("exec systemd-sysext 'refresh'");
    expect(s).toContain('mount --make-rshared /');
  });

  it('hides the search directories under --root, then shows only the entry', () => {
    const s = trialScript({ kind: 'sysext', root: '/r', only }, false);
    for (const d of ['etc', 'run', 'var/lib', 'usr/local/lib', 'usr/lib'])
      expect(s).toContain(`mount -t tmpfs -o mode=0755 sysext-agent-trial '/r/${d}/extensions'`);
    const open = s.indexOf("exec 3<'/r/var/lib/extensions/a.raw'");
    const hide = s.indexOf("'/r/var/lib/extensions' ||");
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThan(hide);
    expect(s).toContain("mount -c --bind /proc/self/fd/3 '/r/var/lib/extensions/a.raw'");
    expect(s).toContain("ln -s '../sysext-agent/x.roothash' '/r/var/lib/extensions/a.roothash'");
    expect(s).toContain("mkdir '/r/var/lib/extensions/tree' && mount -c --bind /proc/self/fd/4");
    expect(s.split('\n').at(-1)).toBe("exec systemd-sysext 'refresh' '--root=/r'");
  });

  it('confext hides the confext directories and runs systemd-confext, --no-reload from 255', () => {
    const s = trialScript(
      { kind: 'confext', root: undefined, only: { dir: '/var/lib/confexts', files: [] } },
      true,
    );
    expect(s).toContain("sysext-agent-trial '/run/confexts'");
    expect(s).not.toContain('/var/lib/extensions');
    expect(s.split('\n').at(-1)).toBe("exec systemd-confext 'refresh' '--no-reload'");
  });

  it('quotes what it cannot trust', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
