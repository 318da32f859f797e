/**
 * Trial merges (the systemd port's `trialMerge`): the real tool, run in a throw-away private
 * mount namespace by `unshare -m --propagation private`, so that what it merges, mounts or
 * unmerges is seen by nobody else and ends with the namespace. Its exit code is the answer,
 * as it is for systemd-sysext.service.
 */
import { AgentError } from '../errors.ts';
import { execaLazy } from '../util/exec.ts';
import { parseSystemdVersion } from '../compat/systemd-version.ts';
import type { TrialMerge, TrialResult } from './port.ts';
import { NO_RELOAD_SINCE } from './search-path.ts';
import { SETUP_FAILED, TRIAL_MARKER, trialScript } from './trial-script.ts';

/** A trial sets up one image or a few; a wedged one must not hold a boot for long. */
const TRIAL_TIMEOUT_MS = 120_000;

function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}

export async function trialMerge(
  trial: TrialMerge,
  version: () => Promise<string | null>,
): Promise<TrialResult> {
  const major = parseSystemdVersion((await version()) ?? '')?.major ?? 0;
  const script = trialScript(trial, major >= NO_RELOAD_SINCE);
  const execa = await execaLazy();
  const result = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    reject: false,
    stdin: 'ignore',
    timeout: TRIAL_TIMEOUT_MS,
    // The reason must reach stderr, not the journal (a boot-time service has JOURNAL_STREAM).
    env: { SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_COLOR: '0' },
  });
  const stderr = String(result.stderr ?? '');
  const at = stderr.indexOf(TRIAL_MARKER);
  if (at < 0 || result.exitCode === SETUP_FAILED) {
    // unshare or a mount refused (not root, no namespaces): nothing was learnt about the entry.
    const why = lastLine(stderr) || result.shortMessage;
    throw new AgentError('UNSUPPORTED', `a trial merge cannot be set up here: ${why}`);
  }
  if (result.timedOut) return { ok: false, detail: `timed out after ${TRIAL_TIMEOUT_MS / 1000}s` };
  const said = lastLine(stderr.slice(stderr.indexOf('\n', at) + 1));
  if (result.exitCode === 0) return { ok: true, detail: said };
  const how = result.exitCode === undefined ? `signal ${result.signal}` : `exit ${result.exitCode}`;
  return { ok: false, detail: said ? `${said} (${how})` : how };
}
