/** Runs an extension's configured health check (PRODUCT.md section 4): exit 0 = healthy. */
import { execaLazy } from '../util/exec.ts';
import type { ExtensionConfig } from '../config/schema.ts';

export interface HealthResult {
  ok: boolean;
  detail: string;
}

export async function runHealthCheck(
  name: string,
  version: string,
  root: string,
  cfg: ExtensionConfig | undefined,
): Promise<HealthResult> {
  const argv = cfg?.healthCheck;
  if (!argv || argv.length === 0) return { ok: true, detail: 'no health check configured' };
  const [file, ...args] = argv as [string, ...string[]];
  const result = await (
    await execaLazy()
  )(file, args, {
    reject: false,
    all: true,
    timeout: cfg.healthTimeoutSec * 1000,
    env: { SYSEXT_AGENT_EXTENSION: name, SYSEXT_AGENT_VERSION: version, SYSEXT_AGENT_ROOT: root },
    stdin: 'ignore',
  });
  if (result.timedOut)
    return { ok: false, detail: `health check timed out after ${cfg.healthTimeoutSec}s` };
  if (result.exitCode === 0) return { ok: true, detail: 'health check passed' };
  const output = String(result.all ?? '')
    .trim()
    .slice(-500);
  return {
    ok: false,
    detail: `health check ${JSON.stringify(argv)} failed (${result.exitCode === undefined ? result.message : `exit ${result.exitCode}`})${output ? `: ${output}` : ''}`,
  };
}
