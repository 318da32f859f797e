/**
 * Is stderr the journal? systemd sets `JOURNAL_STREAM=DEV:INODE` (both decimal) for a service
 * whose stdout or stderr it connected to the journal; the variable is inherited by children
 * whose stderr may go elsewhere, so it counts only when it names the file descriptor's own
 * device and inode (systemd.exec(5), "$JOURNAL_STREAM"; sd-daemon(3)).
 */
import { fstatSync } from 'node:fs';

export function isJournalStream(
  value: string | undefined = process.env.JOURNAL_STREAM,
  fd = 2,
): boolean {
  const match = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
  if (!match) return false;
  try {
    // bigint: inode numbers above 2^53 exist (e.g. on btrfs and overlayfs).
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(match[1] as string) && st.ino === BigInt(match[2] as string);
  } catch {
    return false;
  }
}

/** pino's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
export const LEVEL_NUMBER = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
} as const;

/**
 * The sd-daemon(3) prefix for a pino level: `<3>` SD_ERR (error and fatal: `journalctl -p err`
 * shows them), `<4>` SD_WARNING, `<6>` SD_INFO, `<7>` SD_DEBUG (debug and trace).
 */
export function priorityPrefix(level: number): string {
  if (level >= LEVEL_NUMBER.error) return '<3>';
  if (level >= LEVEL_NUMBER.warn) return '<4>';
  if (level >= LEVEL_NUMBER.info) return '<6>';
  return '<7>';
}
