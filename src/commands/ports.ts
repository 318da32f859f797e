/**
 * The real edges, used unless a caller passes others: systemd-sysext/confext and losetup
 * through execa, health checks in their own process group, the repository over HTTP(S) or in a
 * local directory (routed by each URL's scheme).
 */
import { createHealthRunner } from '../health/runner.ts';
import { openRepositorySource } from '../net/source.ts';
import { systemdTools } from '../systemd/tools.ts';
import type { Ports } from './context.ts';

/**
 * Crash tests only: SYSEXT_AGENT_TEST_CRASH_AT=STEP SIGKILLs this process right after the
 * journal records STEP (a stop at every step, not only at random moments);
 * SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS=N SIGKILLs it N ms after `begin` is journaled, so that
 * random kills land inside the transaction.
 */
function crashHook(): ((step: string) => void) | undefined {
  const at = process.env.SYSEXT_AGENT_TEST_CRASH_AT;
  const ms = Number(process.env.SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS ?? NaN);
  if (at === undefined && !Number.isFinite(ms)) return undefined;
  const kill = () => process.kill(process.pid, 'SIGKILL');
  return (step) => {
    if (step === at) kill();
    if (step === 'begin' && Number.isFinite(ms)) setTimeout(kill, ms);
  };
}

export function defaultPorts(): Ports {
  const onStep = crashHook();
  return {
    systemd: systemdTools(),
    health: createHealthRunner(),
    openSource: openRepositorySource,
    ...(onStep ? { onStep } : {}),
  };
}
