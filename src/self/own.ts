/**
 * The agent's own extensions (PRODUCT.md section 8): `sysext-agent` (the bundled agent) and
 * `sysext-agent-node` (its runtime). They are updated like any other extension, but their health
 * check defaults to the newly merged agent's self-test, and `remove` refuses them without --force:
 * a host without them has nothing left to update or recover with.
 */
import type { ExtensionConfig } from '../config/schema.ts';

export const OWN_EXTENSIONS: readonly string[] = ['sysext-agent', 'sysext-agent-node'];

export function isOwnExtension(name: string): boolean {
  return OWN_EXTENSIONS.includes(name);
}

/** The merged agent proves itself: it starts, loads every module, signs and verifies. */
export const SELF_TEST: readonly string[] = ['/usr/bin/sysext-agent', 'self-test'];

/** The health check of `name`: as configured, or the self-test for the agent's own extensions. */
export function healthCheckOf(
  name: string,
  configured: ExtensionConfig | undefined,
  defaultTimeoutSec: number,
): ExtensionConfig | undefined {
  if (configured?.healthCheck || !isOwnExtension(name)) return configured;
  return {
    ...(configured ?? {}),
    healthCheck: [...SELF_TEST],
    healthTimeoutSec: configured?.healthTimeoutSec ?? defaultTimeoutSec,
  };
}
