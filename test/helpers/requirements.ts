/**
 * Tests that need root, a loop device or a tool check first and say why they skip.
 * In CI (CI=true) nothing may skip: a missing requirement fails loudly instead.
 */
import { execaSync } from 'execa';
import { existsSync } from 'node:fs';

function has(cmd: string): boolean {
  return execaSync('sh', ['-c', `command -v ${cmd}`], { reject: false }).exitCode === 0;
}

export function missingFor(kind: 'merge' | 'tools'): string | null {
  const needs: [boolean, string][] = [
    [has('mksquashfs'), 'mksquashfs (squashfs-tools) is not installed'],
    [has('veritysetup'), 'veritysetup (cryptsetup-bin) is not installed'],
  ];
  if (kind === 'merge') {
    needs.push(
      [process.getuid?.() === 0, 'not running as root (needed for unshare -m and loop devices)'],
      [has('unshare'), 'unshare is not installed'],
      [has('systemd-sysext'), 'systemd-sysext is not installed'],
      [existsSync('/dev/loop-control'), 'no loop device support (/dev/loop-control missing)'],
      [existsSync('/usr/sbin/nginx'), 'nginx is not installed'],
    );
  }
  const missing = needs.filter(([ok]) => !ok).map(([, why]) => why);
  if (missing.length === 0) return null;
  const why = missing.join('; ');
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${why}`);
  console.warn(`skipping: ${why}`);
  return why;
}
