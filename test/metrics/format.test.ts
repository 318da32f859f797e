/** The metrics textfile format (src/metrics/format.ts), read back by prometheus_client's parser. */
import { describe, expect, it } from 'vitest';
import {
  addRun,
  emptyRuns,
  formatMetrics,
  parseRuns,
  type MetricsSnapshot,
} from '../../src/metrics/format.ts';
import { parseMetrics, parserMissing, valueOf } from './promparse.ts';

const noParser = await parserMissing();

function snapshot(): MetricsSnapshot {
  let runs = addRun(
    emptyRuns(),
    'update',
    { at: 1_800_000_000.5, durationSec: 2.25, exitCode: 0, downloadedBytes: 4096 },
    ['hello', 'site-config'],
  );
  runs = addRun(
    runs,
    'check',
    { at: 1_800_000_100, durationSec: 0.5, exitCode: 1, downloadedBytes: 0 },
    ['hello'],
  );
  return {
    ...runs,
    installed: {
      hello: { kind: 'sysext', current: '2.1~rc1^git+x', quarantined: 1 },
      'site-config': { kind: 'confext', current: null, quarantined: 0 },
    },
    manifest: { serial: 12, expires: 1_802_592_000 },
  };
}

describe('metrics textfile format', () => {
  it('every family has HELP and TYPE gauge before its samples; names follow the conventions', () => {
    const text = formatMetrics(snapshot());
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    const seen = new Set<string>();
    for (const [i, line] of lines.entries()) {
      if (line.startsWith('# HELP ')) {
        const name = line.split(' ')[2] as string;
        expect(name).toMatch(/^sysext_agent_[a-z_]+$/);
        expect(name).not.toMatch(/_total$/);
        expect(lines[i + 1]).toBe(`# TYPE ${name} gauge`);
        expect(seen.has(name)).toBe(false);
        seen.add(name);
      } else if (!line.startsWith('# ')) {
        const name = /^[a-z_]+/.exec(line)?.[0] as string;
        expect(seen.has(name), `${line} comes after its HELP`).toBe(true);
      }
    }
    expect(text).not.toMatch(/\d{13}/); // no sample timestamps (the textfile collector refuses them)
  });

  it('the run history survives a round trip through the file; unknown lines are ignored', () => {
    const s = snapshot();
    const back = parseRuns(`garbage\n# HELP x y\n${formatMetrics(s)}other_metric{command="x"} 1\n`);
    expect(back).toEqual({ commands: s.commands, extensions: s.extensions });
    expect(parseRuns('')).toEqual(emptyRuns());
  });

  it("a failed run replaces the command's last run and its extensions', leaving the others", () => {
    const s = snapshot();
    const after = addRun(
      s,
      'update',
      { at: 1_800_000_200, durationSec: 1, exitCode: 3, downloadedBytes: 0 },
      ['hello'],
    );
    expect(after.commands.update?.exitCode).toBe(3);
    expect(after.extensions.hello?.update).toEqual({ at: 1_800_000_200, ok: false });
    expect(after.extensions['site-config']?.update).toEqual({ at: 1_800_000_000.5, ok: true });
    expect(after.commands.check).toEqual(s.commands.check);
  });

  it.skipIf(noParser)(
    'prometheus_client parses it with the expected series and values',
    async () => {
      const families = await parseMetrics(formatMetrics(snapshot()));
      expect(families.every((f) => f.type === 'gauge' && f.documentation.length > 0)).toBe(true);
      expect(valueOf(families, 'sysext_agent_last_run_success', { command: 'update' })).toBe(1);
      expect(valueOf(families, 'sysext_agent_last_run_success', { command: 'check' })).toBe(0);
      expect(valueOf(families, 'sysext_agent_last_run_exit_code', { command: 'check' })).toBe(1);
      expect(
        valueOf(families, 'sysext_agent_last_run_duration_seconds', { command: 'update' }),
      ).toBe(2.25);
      expect(
        valueOf(families, 'sysext_agent_last_run_downloaded_bytes', { command: 'update' }),
      ).toBe(4096);
      expect(
        valueOf(families, 'sysext_agent_last_run_timestamp_seconds', { command: 'update' }),
      ).toBe(1_800_000_000.5);
      expect(
        valueOf(families, 'sysext_agent_extension_last_run_success', {
          extension: 'hello',
          command: 'check',
        }),
      ).toBe(0);
      expect(
        valueOf(families, 'sysext_agent_extension_info', {
          extension: 'hello',
          kind: 'sysext',
          version: '2.1~rc1^git+x',
        }),
      ).toBe(1);
      // No current version: no info series, but its quarantine count.
      expect(
        families
          .find((f) => f.name === 'sysext_agent_extension_info')
          ?.samples.map((s) => s.labels.extension),
      ).toEqual(['hello']);
      expect(
        valueOf(families, 'sysext_agent_extension_quarantined_versions', { extension: 'hello' }),
      ).toBe(1);
      expect(valueOf(families, 'sysext_agent_manifest_serial')).toBe(12);
      expect(valueOf(families, 'sysext_agent_manifest_expiry_timestamp_seconds')).toBe(
        1_802_592_000,
      );
    },
  );
});
