/** Foreseeable system errors become PERMISSION (exit 1) with the path and a fix, not a stack. */
import { describe, expect, it } from 'vitest';
import { permissionError } from '../../src/cli/system-error.ts';
import { AgentError, exitCodeFor } from '../../src/errors.ts';

function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

describe('permissionError', () => {
  it('EACCES as a user: the directory of a temp file, and "run it as root" for host paths', () => {
    const err = permissionError(
      errno('EACCES', 'open', '/var/lib/sysext-agent/.lock.12.ab.tmp'),
      1000,
    );
    expect(err?.code).toBe('PERMISSION');
    expect(exitCodeFor('PERMISSION')).toBe(1);
    expect(err?.message).toContain('cannot create files in /var/lib/sysext-agent');
    expect(err?.message).toContain('run it as root');
  });

  it('a path of the user’s own choosing gets a fix without root', () => {
    const err = permissionError(errno('EACCES', 'open', '/root/k.key'), 1000);
    expect(err?.message).toContain('open /root/k.key');
    expect(err?.message).not.toContain('run it as root');
  });

  it('EROFS names the read-only file system; EPERM as root points at the sandbox', () => {
    expect(permissionError(errno('EROFS', 'mkdir', '/var/lib/x'), 0)?.message).toContain(
      'read-only',
    );
    expect(permissionError(errno('EPERM', 'rename', '/var/lib/x'), 0)?.message).toContain(
      'ReadWritePaths=',
    );
  });

  it('an IO error caused by EACCES is re-coded, keeping its message; others are left alone', () => {
    const io = new AgentError('IO', 'cannot write key files: EACCES', {
      cause: errno('EACCES', 'open', '/root/k.key'),
    });
    expect(permissionError(io, 1000)?.message).toMatch(/^cannot write key files: EACCES: /);
    expect(permissionError(new AgentError('IO', 'disk on fire'), 1000)).toBeNull();
    expect(permissionError(new AgentError('CONFIG', 'x', { cause: io }), 1000)).toBeNull();
    expect(permissionError(errno('ENOENT', 'open', '/x'), 1000)).toBeNull();
    expect(permissionError(new Error('bug'), 1000)).toBeNull();
  });
});
