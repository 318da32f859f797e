/**
 * The metrics file read by a real parser: prometheus_client's
 * `text_string_to_metric_families` (Debian package python3-prometheus-client), run with Debian's
 * own /usr/bin/python3: the package installs there, and a python3 earlier on PATH (pyenv and the
 * like) does not see it. `parserMissing()` is `missing('python3')` plus the module check: under
 * CI=true a missing one fails the test file.
 */
import { execa } from 'execa';
import { missing } from '../helpers/requirements.ts';

const PYTHON = '/usr/bin/python3';

export interface Family {
  name: string;
  type: string;
  documentation: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "documentation": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
`;

export async function parserMissing(): Promise<string | null> {
  const tool = missing('python3');
  if (tool) return tool;
  const r = await execa(PYTHON, ['-c', 'import prometheus_client.parser'], { reject: false });
  if (r.exitCode === 0) return null;
  const why = `${PYTHON} cannot import prometheus_client (package python3-prometheus-client)`;
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${why}`);
  console.warn(`skipping: ${why}`);
  return why;
}

/** The families of `text`, as the real parser reads them; throws on a syntax error. */
export async function parseMetrics(text: string): Promise<Family[]> {
  const r = await execa(PYTHON, ['-c', SCRIPT], { input: text, reject: false });
  if (r.exitCode !== 0) throw new Error(`prometheus_client refused the file: ${r.stderr}`);
  return JSON.parse(r.stdout) as Family[];
}

/** The value of one series, or undefined. */
export function valueOf(
  families: readonly Family[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families)
    for (const s of f.samples)
      if (
        s.name === name &&
        Object.keys(labels).length === Object.keys(s.labels).length &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v)
      )
        return s.value;
  return undefined;
}
