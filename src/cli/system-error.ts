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
