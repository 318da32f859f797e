/**
 * The systemd edge as an interface: everything the transaction asks of systemd-sysext /
 * systemd-confext and the kernel's loop devices. The default (`./tools.ts`) runs the real tools
 * through execa; tests pass fakes that refuse, lie or fail at any step.
 */
import type { ExtensionKind } from '../manifest/schema.ts';

export interface MergeTarget {
  kind: ExtensionKind;
  /** `--root` given to the agent, if any (passed on as `--root=`). */
  root: string | undefined;
}

export interface SystemdPort {
  /** Whether the tool that merges `kind` is installed (systemd-confext needs systemd >= 254). */
  hasTool(kind: ExtensionKind): Promise<boolean>;
  /** `systemd-sysext refresh` / `systemd-confext refresh`; throws MERGE_FAILED when it fails. */
  refresh(target: MergeTarget): Promise<void>;
  /** Extension names merged per hierarchy (`status --json=short`); throws MERGE_FAILED. */
  merged(target: MergeTarget): Promise<Map<string, string[]>>;
  /** Whether `extension-release.NAME` is visible in the merged tree. */
  releaseVisible(target: MergeTarget, name: string): Promise<boolean>;
  /** Whether a loop device is backed by the very inode of `image`. */
  loopBackedBy(image: string): Promise<boolean>;
  /** systemd's version as `systemd-sysext --version` reports it ("252.39-1~deb12u2"); null when
   * the tool does not answer. The merge rules differ between releases (src/compat). */
  version(): Promise<string | null>;
}

export function toolFor(kind: ExtensionKind): string {
  return kind === 'sysext' ? 'systemd-sysext' : 'systemd-confext';
}
