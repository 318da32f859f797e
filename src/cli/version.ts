/**
 * The agent's version (`sysext-agent --version`): package.json's, read next to the sources or
 * dist/ (src/cli/ and dist/cli/ are both two levels below it), or the constant the bundler
 * defines for the single-file agent of the agent's own extension image.
 */
import { readFile } from 'node:fs/promises';

declare const SYSEXT_AGENT_VERSION: string | undefined;

export async function agentVersion(): Promise<string> {
  if (typeof SYSEXT_AGENT_VERSION === 'string') return SYSEXT_AGENT_VERSION;
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8').catch(
    () => '{}',
  );
  const version = (JSON.parse(text) as { version?: unknown }).version;
  return typeof version === 'string' ? version : 'unknown';
}
