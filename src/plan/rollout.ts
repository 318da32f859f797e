/**
 * Phased rollouts (PRODUCT.md section 3.1): a host takes a version only when its bucket is below
 * the version's percent. bucket = the first 8 bytes of SHA-256("MACHINE_ID:NAME:VERSION") read
 * as an unsigned big-endian integer, modulo 100, so that any other tool computes the same
 * answer (e.g. `printf %s "$id:$name:$version" | sha256sum`, first 16 hex digits, mod 100).
 * The same machine always gets the same answer; raising the percent only adds hosts.
 */
import { hash } from 'node:crypto';

export function rolloutBucket(machineId: string, name: string, version: string): number {
  const digest = hash('sha256', `${machineId}:${name}:${version}`, 'buffer');
  return Number(digest.readBigUInt64BE(0) % 100n);
}

/** `/etc/machine-id`: 32 lower-case hex characters (machine-id(5)); anything else is none. */
export function parseMachineId(text: string): string | null {
  const id = text.trim();
  return /^[0-9a-f]{32}$/.test(id) ? id : null;
}
