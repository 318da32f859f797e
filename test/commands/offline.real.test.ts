/**
 * Acceptance: an offline repository with the real systemd-sysext. The repository is a directory
 * bind-mounted read-only, as a USB stick would be, inside a private mount namespace; the config
 * names that mount point (an absolute path). `update` installs 1.0, then 2.0, each really merged
 * (the merged /usr/bin/hello prints the version) and healthy. Outside the namespace the mount
 * point is empty: the medium is not there and the agent says so.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentStep,
  namespaceSteps,
  publishImages,
  readReport,
  runBin,
  selftest,
} from '../helpers/real-host.ts';
import { missing, REAL_MERGE } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

// A real merge, without nginx: nothing is served.
const skip = missing(...REAL_MERGE);

describe.skipIf(skip)(
  'update from a read-only local directory with the real systemd-sysext',
  () => {
    let sb: Sandbox;
    let usb: string;

    beforeAll(async () => {
      sb = await makeSandbox();
      usb = join(sb.dir, 'media/usb');
      await mkdir(usb, { recursive: true });
      await sb.writeConfig({ repositories: [usb], extensions: { hello: selftest('hello') } });
    });
    afterAll(async () => {
      await sb?.cleanup();
    });

    /** "Inserts the stick" (read-only bind of the repository), updates, runs the merged binary. */
    const updateFromStick = (label: string) =>
      namespaceSteps(
        sb,
        `mount --bind '${sb.repo}' '${usb}' && mount -o remount,bind,ro '${usb}' || exit 98`,
        agentStep(sb, label, 'update'),
        runBin('hello'),
        agentStep(sb, `${label}-status`, 'status'),
      );

    it('installs 1.0, then updates to 2.0, each really merged and healthy', async () => {
      const [v1, v2] = await buildImages(sb.images, ['1.0', '2.0']);
      await publishImages(sb, v1 as string);

      const first = await updateFromStick('first');
      expect(first.values, first.stderr).toMatchObject({ first: '0', hello: 'hello 1.0' });
      expect(await readReport(sb, 'first')).toMatchObject({
        extensions: { hello: { result: 'installed' } },
      });

      await publishImages(sb, v2 as string);
      const second = await updateFromStick('second');
      expect(second.values, second.stderr).toMatchObject({ second: '0', hello: 'hello 2.0' });
      expect(await readReport(sb, 'second')).toMatchObject({
        extensions: { hello: { result: 'updated' } },
      });
      expect(await readReport(sb, 'second-status')).toMatchObject({
        extensions: {
          hello: { kind: 'sysext', current: '2.0', previous: '1.0', installed: ['1.0', '2.0'] },
        },
        manifest: { serial: 2 },
      });
    });

    it('without the stick: exit 1, NETWORK naming the manifest path', async () => {
      const r = await namespaceSteps(sb, agentStep(sb, 'absent', 'check'));
      expect(r.values.absent, r.stderr).toBe('1');
      expect(await readReport(sb, 'absent')).toMatchObject({
        error: {
          code: 'NETWORK',
          message: expect.stringContaining(`cannot read ${usb}/manifest.json: ENOENT`),
        },
      });
    });
  },
);
