/**
 * A sandbox host for tests with the real systemd-sysext: nginx serving its repository, and
 * shell snippets run in fresh private mount namespaces (each starts unmerged, like a host at
 * boot, and is unmerged again at the end). Scripts report values as `KEY=VALUE` lines.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { cliCommand, runCli } from './cli.ts';
import { startNginx, type RunningNginx } from './nginx.ts';
import { inNamespace, makeSandbox, type Sandbox } from './sandbox.ts';

export interface NsResult {
  /** `KEY=VALUE` lines the script printed. */
  values: Record<string, string>;
  stderr: string;
}

export type Extensions = Record<string, Record<string, unknown>>;

/** The fixture binaries' own health check. */
export const selftest = (name: string): Record<string, unknown> => ({
  healthCheck: [`/usr/bin/${name}`, '--selftest'],
  healthTimeoutSec: 10,
});

/** Prints `KEY=OUTPUT` of the merged binary /usr/bin/NAME (empty when it is not there). */
export const runBin = (name: string, key = name): string =>
  `echo "${key}=$(/usr/bin/${name} 2>/dev/null)"`;

/** Runs the agent, its JSON document to DIR/LABEL.json, its exit code as `LABEL=CODE`. */
export function agentStep(sb: Sandbox, label: string, args: string): string {
  const agent = `${cliCommand()} --config '${sb.configFile}' --log-level warn --json ${args}`;
  return `${agent} > '${sb.dir}/${label}.json'; echo "${label}=$?"`;
}

export async function namespaceSteps(sb: Sandbox, ...steps: string[]): Promise<NsResult> {
  const r = await inNamespace(
    sb,
    [...steps, 'systemd-sysext unmerge >/dev/null 2>&1; true'].join('\n'),
  );
  if (r.exitCode !== 0) throw new Error(`namespace script failed (${r.exitCode}): ${r.stderr}`);
  const values: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([a-z][a-z0-9-]*)=(.*)$/.exec(line);
    if (m) values[m[1] as string] = m[2] as string;
  }
  return { values, stderr: r.stderr };
}

export async function readReport(sb: Sandbox, label: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(sb.dir, `${label}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

export async function publishImages(sb: Sandbox, ...images: string[]): Promise<void> {
  const r = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, ...images]);
  expect(r.exitCode, r.stderr).toBe(0);
}

export interface RealHost {
  sb: Sandbox;
  nginx: RunningNginx;
  configure: (extensions: Extensions) => Promise<void>;
  run: (label: string, args: string) => string;
  ns: (...steps: string[]) => Promise<NsResult>;
  json: (label: string) => Promise<Record<string, unknown>>;
  publish: (...images: string[]) => Promise<void>;
  stop: () => Promise<void>;
}

export async function realHost(extensions: Extensions): Promise<RealHost> {
  const sb = await makeSandbox();
  const nginx = await startNginx(sb.repo);
  const configure = (ext: Extensions): Promise<void> =>
    sb.writeConfig({ repositories: [nginx.url], extensions: ext });
  await configure(extensions);
  return {
    sb,
    nginx,
    configure,
    run: (label, args) => agentStep(sb, label, args),
    ns: (...steps) => namespaceSteps(sb, ...steps),
    json: (label) => readReport(sb, label),
    publish: (...images) => publishImages(sb, ...images),
    stop: async () => {
      await nginx.stop();
      await sb.cleanup();
    },
  };
}
