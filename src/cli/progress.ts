/**
 * A progress bar per download on stderr (cli-progress: bytes, rate, ETA), only when stderr is a
 * terminal and the output is not --json; otherwise none.
 */
import type { ProgressDisplay } from '../commands/context.ts';
import type { GlobalOptions } from './runtime.ts';

const MiB = 1024 * 1024;

export async function progressFactory(
  opts: GlobalOptions,
): Promise<((label: string, total: number) => ProgressDisplay) | undefined> {
  if (opts.json || !process.stderr.isTTY) return undefined;
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
    return {
      update: (done) => {
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        bar.update(done, {
          done: (done / MiB).toFixed(1),
          size,
          rate: (done / MiB / seconds).toFixed(1),
        });
      },
      stop: () => bar.stop(),
    };
  };
}
