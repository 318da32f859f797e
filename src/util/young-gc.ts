/**
 * An explicit scavenge (V8's young-generation GC) during a download. Each socket read is a
 * fresh 64 KiB buffer held by a tiny JS object: the young generation fills slowly, so the dead
 * buffers pile up as external memory until V8 answers with a full mark-compact of the whole
 * heap. Measured on a 256 MiB download through undici (docs/performance.md): peak RSS 143 MiB
 * and 1.0 s of CPU without, 103-110 MiB and 0.55-0.78 s with a scavenge every 2-8 MiB, each
 * about 1.5 ms. `gc` is reached the documented way for a running process: the --expose-gc flag set
 * at run time shows it in a new context (node:vm), never in the agent's own global scope.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'minor'; execution: 'sync' }) => void;

let gc: Gc | null | undefined;

function load(): Gc | null {
  try {
    setFlagsFromString('--expose-gc');
    const found: unknown = runInNewContext('gc');
    return typeof found === 'function' ? (found as Gc) : null;
  } catch {
    return null;
  }
}

/** Runs a scavenge; does nothing where V8 does not offer one. */
export function collectYoung(): void {
  gc ??= load();
  gc?.({ type: 'minor', execution: 'sync' });
}

/** Calls collectYoung() once per `every` bytes counted. */
export function youngGcEvery(every: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < every) return;
    since = 0;
    collectYoung();
  };
}
