/**
 * One error class for the whole agent. Callers branch on `code`, never on message text;
 * `exitCodeFor` is the only place that maps codes to the exit codes of PRODUCT.md section 5.
 */
export type AgentErrorCode =
  // usage and configuration (exit 2)
  | 'USAGE'
  | 'CONFIG'
  // failed before anything changed (exit 1)
  | 'NETWORK'
  | 'HTTP_STATUS'
  | 'INSECURE_REDIRECT'
  | 'BAD_RANGE'
  | 'TOO_LARGE'
  | 'MANIFEST_FORMAT'
  | 'SIGNATURE'
  | 'THRESHOLD'
  | 'UNTRUSTED'
  | 'EXPIRED'
  | 'SERIAL_ROLLBACK'
  | 'SIZE_MISMATCH'
  | 'HASH_MISMATCH'
  | 'VERITY_MISMATCH'
  | 'NOT_IN_MANIFEST'
  | 'BAD_IMAGE'
  | 'BAD_KEY'
  | 'NO_SPACE'
  | 'UNSUPPORTED'
  | 'STATE_CORRUPT'
  | 'NO_PREVIOUS'
  | 'NOT_INSTALLED'
  | 'IO'
  // a new version failed to merge or its health check and was rolled back (exit 3)
  | 'MERGE_FAILED'
  | 'HEALTH_FAILED'
  // the way back failed too (exit 4)
  | 'ROLLBACK_FAILED'
  // another instance holds the lock (exit 75)
  | 'LOCKED';

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}

export const EXIT = {
  OK: 0,
  FAILED_UNCHANGED: 1,
  USAGE: 2,
  ROLLED_BACK: 3,
  NEEDS_ATTENTION: 4,
  LOCKED: 75,
} as const;

export function exitCodeFor(code: AgentErrorCode): number {
  switch (code) {
    case 'USAGE':
    case 'CONFIG':
      return EXIT.USAGE;
    case 'MERGE_FAILED':
    case 'HEALTH_FAILED':
      return EXIT.ROLLED_BACK;
    case 'ROLLBACK_FAILED':
      return EXIT.NEEDS_ATTENTION;
    case 'LOCKED':
      return EXIT.LOCKED;
    default:
      return EXIT.FAILED_UNCHANGED;
  }
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError;
}
