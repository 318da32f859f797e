/**
 * A progress bar per download on stderr (cli-progress: bytes, rate, ETA), only when stderr is a
 * terminal, the output is not --json and the log lines are human ones (not the journal, not
 * --log-format json); otherwise none. Log lines written while a bar is shown clear its line
 * first (./log/screen.ts), so the two never share a line.
 */
import type { ProgressDisplay } from '../commands/context.ts';
import { activeLogging } from './log/create.ts';
import { screen } from './log/screen.ts';
import type { GlobalOptions } from './runtime.ts';

const MiB = 1024 * 1024;

/** A bar only for a person watching a terminal: never with --json, in the journal or JSON logs. */
export function wantsBar(opts: GlobalOptions, tty: boolean, logStyle: string): boolean {
  return tty && opts.json !== true && logStyle === 'human';
}

export async function progressFactory(
  opts: GlobalOptions,
): Promise<((label: string, total: number) => ProgressDisplay) | undefined> {
  if (!wantsBar(opts, process.stderr.isTTY === true, activeLogging()?.style ?? 'human'))
    return undefined;
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  return (label, total) => {
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {done}/{size} MiB | {rate} MiB/s | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    const started = Date.now();
    const size = (total / MiB).toFixed(1);
    bar.start(total, 0, { done: '0.0', size, rate: '0.0' });
    screen.barStarted();
    let stopped = false;
    return {
      update: (done) => {
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        bar.update(done, {
          done: (done / MiB).toFixed(1),
          size,
          rate: (done / MiB / seconds).toFixed(1),
        });
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        bar.stop();
        screen.barStopped();
      },
    };
  };
}
