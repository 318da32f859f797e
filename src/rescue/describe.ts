/**
 * What `rescue` did to one entry, in the words an operator reads at boot in the journal: what
 * was taken out, where it went, why, and how to undo it. One sentence per entry, used for the
 * warning log line and the human output alike.
 */
import type { ExtensionKind } from '../manifest/schema.ts';
import { isOwnExtension } from '../self/own.ts';
import { toolFor } from '../systemd/port.ts';

export interface Rescued {
  kind: ExtensionKind;
  name: string;
  /** The activation entry that broke the merge. */
  entry: string;
  action: 'switched-to-previous' | 'deactivated' | 'moved';
  /** The agent's version that did not merge (quarantined). */
  version?: string;
  /** The stored version active instead. */
  switchedTo?: string;
  /** Where an entry the agent does not manage went. */
  movedTo?: string;
  /** Its sidecars moved along (NAME.roothash ...), as moved. */
  sidecarsMovedTo?: string[];
  /** The tool's reason, from the trial merge of the entry alone. */
  reason: string;
}

export function describeRescued(r: Rescued): string {
  const refresh = `${toolFor(r.kind)} refresh`;
  if (r.action === 'moved') {
    const back = [r.movedTo ?? '', ...(r.sidecarsMovedTo ?? [])].filter(Boolean);
    const restore =
      back.length > 1 ? `move ${back.join(', ')} back` : `mv '${r.movedTo}' '${r.entry}'`;
    return `took ${r.entry} out of the ${r.kind} merge: it cannot be merged (${r.reason}); moved to ${r.movedTo}${back.length > 1 ? ' with its sidecars' : ''}; to restore it: ${restore} && ${refresh}`;
  }
  const head = `${r.name} ${r.version} (${r.entry}) cannot be merged (${r.reason}): quarantined`;
  if (r.action === 'switched-to-previous')
    return `${head}, ${r.name} ${r.switchedTo} is active instead; to try ${r.version} again: sysext-agent update --allow-quarantined ${r.name}`;
  const own = isOwnExtension(r.name)
    ? '; the agent itself is no longer merged after the next refresh: place its images again (docs/bootstrap.md)'
    : '';
  return `${head} and deactivated (no stored version that merges to fall back to)${own}; to install one: sysext-agent update ${r.name}`;
}
