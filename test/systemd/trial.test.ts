/**
 * The trial-merge edge against a fake `unshare` on PATH (no root): the tool's exit code is the
 * answer and its last stderr line the reason; a namespace that was never set up (no marker, or
 * a set-up step that failed) is UNSUPPORTED, never a verdict on the entry.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trialMerge } from '../../src/systemd/trial.ts';
import { SETUP_FAILED, TRIAL_MARKER } from '../../src/systemd/trial-script.ts';

describe('trialMerge through a fake unshare', () => {
  let dir = '';
  const saved = process.env.PATH;
  const trial = { kind: 'sysext' as const, root: undefined };
  const v252 = async () => '252.39-1~deb12u2';

  async function unshare(script: string): Promise<void> {
    await writeFile(join(dir, 'unshare'), `#!/bin/sh\n${script}\n`);
    await chmod(join(dir, 'unshare'), 0o755);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-trial-'));
    process.env.PATH = `${dir}:${saved ?? ''}`;
  });
  afterAll(async () => {
    process.env.PATH = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('exit 0: ok', async () => {
    await unshare(
      `echo '${TRIAL_MARKER} systemd-sysext' >&2; echo "Merged extensions into '/usr'." >&2`,
    );
    expect(await trialMerge(trial, v252)).toEqual({
      ok: true,
      detail: "Merged extensions into '/usr'.",
    });
  });

  it('the tool fails: not ok, its last line and exit code as the reason', async () => {
    await unshare(
      `echo '${TRIAL_MARKER} systemd-sysext' >&2; echo 'Failed to read metadata for image bad: Package not installed' >&2; exit 1`,
    );
    expect(await trialMerge(trial, v252)).toEqual({
      ok: false,
      detail: 'Failed to read metadata for image bad: Package not installed (exit 1)',
    });
  });

  it('the namespace cannot be made: UNSUPPORTED', async () => {
    await unshare(`echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1`);
    await expect(trialMerge(trial, v252)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await unshare(`echo 'sysext-agent-trial: cannot make / shared' >&2; exit ${SETUP_FAILED}`);
    await expect(trialMerge(trial, v252)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('passes --no-reload only to systemd 255 and later', async () => {
    await unshare(`case "$*" in *--no-reload*) echo '${TRIAL_MARKER}' >&2;; esac`);
    await expect(trialMerge(trial, v252)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect((await trialMerge(trial, async () => '257.13')).ok).toBe(true);
  });
});
