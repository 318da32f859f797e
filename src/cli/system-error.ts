/**
 * Foreseeable system errors as coded errors: a run without the right to write where the agent
 * works (not root, a read-only file system, a unit's sandbox) is an operator's mistake with a
 * known fix, not a bug, so it gets the PERMISSION code and a message that names the path and
 * the fix instead of a stack trace. Errors already coded (IO with such a cause) are re-coded
 * the same way; anything else is left to the caller.
 */
import { AgentError, isAgentError } from '../errors.ts';

const PERMISSION_ERRNOS = new Set(['EACCES', 'EPERM', 'EROFS']);

interface ErrnoLike {
  code?: unknown;
  path?: unknown;
  dest?: unknown;
  syscall?: unknown;
}

/** The errno error behind `err`: itself, or the first one in its `cause` chain. */
function permissionCause(err: unknown): ErrnoLike | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as ErrnoLike).code;
    if (typeof code === 'string' && PERMISSION_ERRNOS.has(code)) return e as ErrnoLike;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The host paths of PRODUCT.md section 2 (under any --root). */
const HOST_PATH = /\/(var\/lib\/(sysext-agent|extensions|confexts)|etc\/sysext-agent)(\/|$)/;

/** What to do about it, for the user this process runs as and the path it was refused. */
function fixFor(errno: string, uid: number | undefined, path: string): string {
  if (errno === 'EROFS')
    return 'the file system is read-only: use --root DIR on a writable tree, or (for a unit) list the path in ReadWritePaths=';
  if (uid !== undefined && uid !== 0)
    return HOST_PATH.test(path)
      ? 'run it as root (the agent writes /var/lib/sysext-agent and the extension directories), or use --root DIR on a tree you can write'
      : 'run it as a user who has access to that path, or choose another path';
  return "check the path's owner and mode, its mount options, and (for a unit) ProtectSystem=/ReadWritePaths=";
}

/**
 * A PERMISSION error for an uncoded errno error, or for an IO error caused by one; null when
 * `err` is not a permission problem.
 */
export function permissionError(
  err: unknown,
  uid: number | undefined = process.getuid?.(),
): AgentError | null {
  if (isAgentError(err) && err.code !== 'IO') return null;
  const cause = permissionCause(err);
  if (!cause) return null;
  const errno = String(cause.code);
  const path = typeof cause.path === 'string' ? cause.path : '(unknown path)';
  const op = typeof cause.syscall === 'string' ? cause.syscall : 'access';
  // An atomic write's temp name says less than the directory it could not be created in.
  const temp = /^(.*)\/\.[^/]+\.tmp$/.exec(path);
  const what = isAgentError(err)
    ? err.message
    : temp
      ? `permission denied (${errno}): cannot create files in ${temp[1]}`
      : `permission denied (${errno}): ${op} ${path}`;
  return new AgentError('PERMISSION', `${what}: ${fixFor(errno, uid, path)}`, { cause: err });
}

/** What an errno means where the agent met it, for the one line a user reads. */
const MEANING: Record<string, string> = {
  EISDIR: 'a directory is where a file was expected',
  ENOTDIR: 'a file is where a directory was expected',
  ELOOP: 'a symbolic link is where the agent allows none (or links loop)',
  EEXIST: 'something is already there',
  ENOENT: 'it does not exist',
  ENOTEMPTY: 'a directory that should be empty is not',
  ENXIO: 'a FIFO or a socket is where a file was expected',
  EBUSY: 'it is busy (a mount point?)',
  EXDEV: 'it is on another file system',
  EIO: 'an input/output error (a failing disk?)',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  ETXTBSY: 'it is busy',
};

/** The errno error behind `err` (itself or in its cause chain), with a code E... or ERR_FS_... */
function errnoCause(err: unknown): ErrnoLike | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as ErrnoLike).code;
    if (typeof code === 'string' && /^(E[A-Z0-9]+|ERR_FS_[A-Z_]+)$/.test(code))
      return e as ErrnoLike;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A coded error for any foreseeable system error (issue 11, class 8): PERMISSION as above; a full
 * disk (ENOSPC, EDQUOT) is NO_SPACE; any other errno error not coded yet is IO with a message that
 * says what the errno means and names the path, never "unexpected error" with a stack trace.
 * Null when `err` is no system error (a bug: the caller reports it with its stack).
 */
export function systemError(err: unknown): AgentError | null {
  const permission = permissionError(err);
  if (permission) return permission;
  if (isAgentError(err) && err.code !== 'IO') return null;
  const cause = errnoCause(err);
  if (!cause) return null;
  const errno = String(cause.code).replace(/^ERR_FS_/, '');
  const path = typeof cause.path === 'string' ? ` ${cause.path}` : '';
  const op = typeof cause.syscall === 'string' ? cause.syscall : 'file operation';
  const what = isAgentError(err) ? err.message : `${op}${path} failed (${errno})`;
  if (errno === 'ENOSPC' || errno === 'EDQUOT')
    return new AgentError(
      'NO_SPACE',
      `${what}: no space left on the file system: free space (\`sysext-agent vacuum\` deletes old versions) and run again`,
      { cause: err },
    );
  if (isAgentError(err)) return err;
  const meaning = MEANING[errno] ?? (cause as { message?: string }).message ?? errno;
  return new AgentError('IO', `${what}: ${meaning}`, { cause: err });
}
