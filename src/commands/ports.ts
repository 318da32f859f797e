/**
 * The real edges, used unless a caller passes others: systemd-sysext/confext and losetup
 * through execa, health checks in their own process group, the repository over HTTP.
 */
import { createHealthRunner } from '../health/runner.ts';
import { httpSource } from '../net/source.ts';
import { systemdTools } from '../systemd/tools.ts';
import type { Ports } from './context.ts';

/**
 * SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS=N (crash tests only): SIGKILL this process N ms after
 * the transaction's `begin` is journaled, so that random kills land inside the transaction.
 */
function crashHook(): ((step: string) => void) | undefined {
  const ms = Number(process.env.SYSEXT_AGENT_TEST_CRASH_AFTER_BEGIN_MS ?? NaN);
  if (!Number.isFinite(ms)) return undefined;
  return (step) => {
    if (step === 'begin') setTimeout(() => process.kill(process.pid, 'SIGKILL'), ms);
  };
}

export function defaultPorts(): Ports {
  const onStep = crashHook();
  return {
    systemd: systemdTools(),
    health: createHealthRunner(),
    openSource: httpSource,
    ...(onStep ? { onStep } : {}),
  };
}
