/**
 * The terminal shared by log lines and progress bars (src/cli/progress.ts): while a bar is
 * drawn, a log line first clears the bar's line, so the two never mix on one line; the bar
 * draws itself again below on its next update.
 */
let barsShown = 0;

export const screen = {
  barStarted(): void {
    barsShown++;
  },
  barStopped(): void {
    barsShown = Math.max(0, barsShown - 1);
  },
  /** What a log line written now must start with: return to column 0 and erase the line. */
  linePrefix(): string {
    return barsShown > 0 ? '\r\x1b[2K' : '';
  },
};
