/**
 * One error class for the whole agent. Callers branch on `code`, never on message text;
 * `exitCodeFor` is the only place that maps codes to the exit codes of PRODUCT.md section 5.
 */
/**
 * Every error code, with the exit code (PRODUCT.md section 5) it means. This table is the only
 * place that maps one to the other; `satisfies` makes the compiler check it is complete.
 */
const EXIT_OF = {
  // usage and configuration
  USAGE: 2,
  CONFIG: 2,
  // failed before anything changed: host untouched
  NETWORK: 1,
  HTTP_STATUS: 1,
  INSECURE_REDIRECT: 1,
  BAD_RANGE: 1,
  TOO_LARGE: 1,
  MANIFEST_FORMAT: 1,
  SIGNATURE: 1,
  THRESHOLD: 1,
  UNTRUSTED: 1,
  // a keys/N.json rotation document that is signed but broken: wrong version, bad keys or threshold
  KEYS_INVALID: 1,
  EXPIRED: 1,
  SERIAL_ROLLBACK: 1,
  // a manifest with the accepted serial but other payload bytes (TUF: an attack or a publisher
  // error); a serial is never reused for different content
  FORK: 1,
  // a server too slow to be anything but an attack (TUF slow retrieval): the manifest's total
  // deadline passed, or an image fell below the minimum rate (config network)
  SLOW_RETRIEVAL: 1,
  // the manifest changed the kind (sysext/confext) of an installed extension
  KIND_CHANGED: 1,
  SIZE_MISMATCH: 1,
  HASH_MISMATCH: 1,
  VERITY_MISMATCH: 1,
  NOT_IN_MANIFEST: 1,
  // the version asked for has no image systemd would merge on this host
  INCOMPATIBLE: 1,
  BAD_IMAGE: 1,
  BAD_KEY: 1,
  NO_SPACE: 1,
  UNSUPPORTED: 1,
  STATE_CORRUPT: 1,
  // a file name built from a name or version that breaks the rules, or a path that would leave
  // its directory: refused before any file is touched (names are checked where they are read;
  // this is the last guard, in src/store/contained.ts)
  UNSAFE_PATH: 1,
  // something the agent did not make sits where it keeps its own files (a symlink, a directory,
  // a FIFO or a device in its store, partial/, lock or activation entries): refused, left as it
  // is, never followed or written through (src/store/nofollow.ts)
  FOREIGN_ENTRY: 1,
  NO_PREVIOUS: 1,
  NOT_INSTALLED: 1,
  IO: 1,
  // the agent may not write (or read) a path it needs: not root, a read-only file system, a
  // sandbox; raised before anything changed (the lock comes first)
  PERMISSION: 1,
  // a new version failed to merge or its health check, and every extension of the run was
  // switched back to its previous version, proven merged
  MERGE_FAILED: 3,
  HEALTH_FAILED: 3,
  // the way back failed, or a proven run could not be recorded: the host needs attention
  ROLLBACK_FAILED: 4,
  COMMIT_FAILED: 4,
  // `rescue` took out what it could, and the merge still fails (the cause is elsewhere), or an
  // entry that breaks it could not be moved out
  RESCUE_INCOMPLETE: 4,
  RESCUE_MOVE_FAILED: 4,
  // another instance holds the lock; nothing done
  LOCKED: 75,
} as const satisfies Record<string, 0 | 1 | 2 | 3 | 4 | 75>;

export type AgentErrorCode = keyof typeof EXIT_OF;

export const ERROR_CODES = Object.keys(EXIT_OF) as AgentErrorCode[];

export interface AgentErrorOptions {
  cause?: unknown;
  /** Worth another attempt (a network hiccup, 5xx, 429): read by the retry loop. */
  transient?: boolean;
  /** The server's Retry-After, in milliseconds. */
  retryAfterMs?: number;
  /** The HTTP status of an HTTP_STATUS error, for callers that act on it (a 404 ends a walk). */
  httpStatus?: number;
}

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  readonly transient: boolean;
  readonly retryAfterMs: number | undefined;
  readonly httpStatus: number | undefined;

  constructor(code: AgentErrorCode, message: string, options: AgentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.transient = options.transient === true;
    this.retryAfterMs = options.retryAfterMs;
    this.httpStatus = options.httpStatus;
  }
}

export function exitCodeFor(code: AgentErrorCode): number {
  return EXIT_OF[code];
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError;
}
