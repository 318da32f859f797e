/**
 * The metrics textfile (PRODUCT.md section 4 `metrics`): Prometheus text exposition format
 * 0.0.4, as node_exporter's textfile collector reads it (no sample timestamps, one HELP and
 * TYPE line per family, every family's samples together). Pure: the file is read and written by
 * ./write.ts. Names follow the Prometheus conventions: the `sysext_agent_` prefix, base units
 * (`_seconds`, `_bytes`), `_timestamp_seconds` for points in time, `_info` for a constant 1
 * that carries labels, and no `_total`: every value here is a gauge (a fact of the last run or
 * of the state now), none a counter.
 *
 * The last run of each command and each extension is kept across runs by reading the previous
 * file back (`parseRuns`): the file itself is the record, nothing else is stored.
 */

export interface RunSample {
  /** End of the run, Unix seconds. */
  at: number;
  durationSec: number;
  exitCode: number;
  /** Body bytes received over HTTP(S) by the run. */
  downloadedBytes: number;
}

export interface ExtensionRunSample {
  at: number;
  ok: boolean;
}

/** What is kept from run to run: the last run per command, per extension and command. */
export interface Runs {
  commands: Record<string, RunSample>;
  extensions: Record<string, Record<string, ExtensionRunSample>>;
}

export interface MetricsSnapshot extends Runs {
  /** The state now: current version, kind and number of quarantined versions per extension. */
  installed: Record<string, { kind: string; current: string | null; quarantined: number }>;
  manifest: { serial: number; expires: number } | null;
}

/** Null-prototype records: a label `constructor` or `__proto__` in a previous file is a key. */
export function emptyRuns(): Runs {
  return { commands: Object.create(null), extensions: Object.create(null) } as Runs;
}

/** The runs recorded so far plus this one: `scope` are the extensions the run was about. */
export function addRun(
  runs: Runs,
  command: string,
  run: RunSample,
  scope: readonly string[],
): Runs {
  const extensions = { ...runs.extensions };
  for (const name of scope) {
    extensions[name] = { ...extensions[name], [command]: { at: run.at, ok: run.exitCode === 0 } };
  }
  return { commands: { ...runs.commands, [command]: run }, extensions };
}

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function sample(name: string, labels: Labels, value: number): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  return `${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`;
}

interface Family {
  name: string;
  help: string;
  samples: [Labels, number][];
}

const byKey = <T>(record: Record<string, T>): [string, T][] =>
  Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function families(s: MetricsSnapshot): Family[] {
  const cmds = byKey(s.commands);
  const perCommand = (f: (r: RunSample) => number) =>
    cmds.map(([command, r]) => [{ command }, f(r)] as [Labels, number]);
  const extRuns = byKey(s.extensions).flatMap(([extension, runs]) =>
    byKey(runs).map(([command, r]) => [{ extension, command }, r] as const),
  );
  const installed = byKey(s.installed);
  return [
    {
      name: 'sysext_agent_last_run_timestamp_seconds',
      help: 'When the last run of the command ended (Unix time).',
      samples: perCommand((r) => r.at),
    },
    {
      name: 'sysext_agent_last_run_success',
      help: 'Whether the last run of the command succeeded (exit code 0): 1 or 0.',
      samples: perCommand((r) => (r.exitCode === 0 ? 1 : 0)),
    },
    {
      name: 'sysext_agent_last_run_exit_code',
      help: 'Exit code of the last run of the command (0, 1, 2, 3, 4; see sysext-agent(8)).',
      samples: perCommand((r) => r.exitCode),
    },
    {
      name: 'sysext_agent_last_run_duration_seconds',
      help: 'How long the last run of the command took.',
      samples: perCommand((r) => r.durationSec),
    },
    {
      name: 'sysext_agent_last_run_downloaded_bytes',
      help: 'Body bytes the last run of the command received over HTTP(S), retries included.',
      samples: perCommand((r) => r.downloadedBytes),
    },
    {
      name: 'sysext_agent_extension_last_run_timestamp_seconds',
      help: 'When the last run of the command that concerned the extension ended (Unix time).',
      samples: extRuns.map(([labels, r]) => [labels, r.at]),
    },
    {
      name: 'sysext_agent_extension_last_run_success',
      help: 'Whether the last run of the command that concerned the extension succeeded: 1 or 0.',
      samples: extRuns.map(([labels, r]) => [labels, r.ok ? 1 : 0]),
    },
    {
      name: 'sysext_agent_extension_info',
      help: 'The current version of each installed extension (always 1; the version is a label).',
      samples: installed
        .filter(([, e]) => e.current !== null)
        .map(([extension, e]) => [{ extension, kind: e.kind, version: e.current ?? '' }, 1]),
    },
    {
      name: 'sysext_agent_extension_quarantined_versions',
      help: 'How many versions of the extension are quarantined (skipped by unattended updates).',
      samples: installed.map(([extension, e]) => [{ extension }, e.quarantined]),
    },
    {
      name: 'sysext_agent_manifest_serial',
      help: 'Serial of the last manifest accepted.',
      samples: s.manifest ? [[{}, s.manifest.serial]] : [],
    },
    {
      name: 'sysext_agent_manifest_expiry_timestamp_seconds',
      help: 'When the last manifest accepted expires (Unix time).',
      samples: s.manifest ? [[{}, s.manifest.expires]] : [],
    },
  ];
}

/** The whole file: every family with samples, HELP and TYPE first. */
export function formatMetrics(s: MetricsSnapshot): string {
  return families(s)
    .filter((f) => f.samples.length > 0)
    .map((f) =>
      [
        `# HELP ${f.name} ${f.help}`,
        `# TYPE ${f.name} gauge`,
        ...f.samples.map(([labels, v]) => sample(f.name, labels, v)),
      ].join('\n'),
    )
    .join('\n')
    .concat('\n');
}

const SAMPLE = /^(sysext_agent_(?:extension_)?last_run_[a-z_]+)\{([^}]*)\} (\S+)$/;

function labelsOf(text: string): Labels {
  const out: Labels = {};
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    out[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) =>
      c === 'n' ? '\n' : c,
    );
  }
  return out;
}

/**
 * The runs recorded in a previous file written by `formatMetrics`. Lines it does not know are
 * ignored, so a damaged or foreign file costs at most the history, never the run.
 */
export function parseRuns(text: string): Runs {
  const runs = emptyRuns();
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, labelText, valueText] = m as unknown as [string, string, string, string];
    const value = Number(valueText);
    const { command, extension } = labelsOf(labelText);
    if (command === undefined || Number.isNaN(value)) continue;
    if (extension !== undefined) {
      const e = (runs.extensions[extension] ??= Object.create(null) as Record<string, never>);
      const r = (e[command] ??= { at: 0, ok: false });
      if (name === 'sysext_agent_extension_last_run_timestamp_seconds') r.at = value;
      if (name === 'sysext_agent_extension_last_run_success') r.ok = value === 1;
      continue;
    }
    const r = (runs.commands[command] ??= {
      at: 0,
      durationSec: 0,
      exitCode: 0,
      downloadedBytes: 0,
    });
    if (name === 'sysext_agent_last_run_timestamp_seconds') r.at = value;
    if (name === 'sysext_agent_last_run_exit_code') r.exitCode = value;
    if (name === 'sysext_agent_last_run_duration_seconds') r.durationSec = value;
    if (name === 'sysext_agent_last_run_downloaded_bytes') r.downloadedBytes = value;
  }
  return runs;
}
