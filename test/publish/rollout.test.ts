/**
 * Rollout percent (PRODUCT.md section 3.1): `publish --rollout` for the versions it adds and the
 * `rollout` command for a published version; each a new serial and a valid signature. Bad
 * percents are usage errors (exit 2); an unknown NAME or VERSION is NOT_IN_MANIFEST (exit 1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';
import { buildImage, rawPayload, verifiedPayload } from './images.ts';

type Doc = {
  extensions: { hello: { versions: Record<string, { rollout?: { percent: number } }> } };
};

describe.skipIf(missing('mksquashfs', 'unsquashfs'))('rollout', () => {
  let sb: Sandbox;
  const rollout = (...args: string[]) =>
    runCli(['--json', 'rollout', '--repo', sb.repo, '--key', sb.key, ...args]);
  const publish = (...args: string[]) =>
    runCli(['--json', 'publish', '--repo', sb.repo, '--key', sb.key, ...args]);

  beforeAll(async () => {
    sb = await makeSandbox();
    const r = await publish(await buildImage(sb.images, '1.0'));
    expect(r.exitCode, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('publish --rollout sets the percent of the version it adds, not of the others', async () => {
    const r = await publish('--rollout', '25', await buildImage(sb.images, '2.0'));
    expect(r.exitCode, r.stderr).toBe(0);
    const payload = await verifiedPayload(sb);
    expect(payload.serial).toBe(2);
    expect(payload.extensions.hello?.versions['2.0']?.rolloutPercent).toBe(25);
    expect(payload.extensions.hello?.versions['1.0']?.rolloutPercent).toBe(100);
    const doc = (await rawPayload(sb)) as Doc;
    expect(doc.extensions.hello.versions['2.0']?.rollout).toEqual({ percent: 25 });
    expect(doc.extensions.hello.versions['1.0']?.rollout).toBeUndefined();
  });

  it('rollout NAME VERSION PERCENT: next serial, re-signed, only that version changed', async () => {
    const before = await verifiedPayload(sb);
    const r = await rollout('--expires', '2d', 'hello', '2.0', '60');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ percent: 60, previousPercent: 25, serial: 3 });
    const after = await verifiedPayload(sb);
    expect(after.serial).toBe(before.serial + 1);
    expect(after.extensions.hello?.versions['2.0']?.rolloutPercent).toBe(60);
    expect(after.extensions.hello?.versions['2.0']?.images).toEqual(
      before.extensions.hello?.versions['2.0']?.images,
    );
    expect(after.extensions.hello?.versions['1.0']).toEqual(
      before.extensions.hello?.versions['1.0'],
    );
    const days = (Date.parse(after.expires) - Date.parse(after.issued)) / 86_400_000;
    expect(days).toBe(2);
  });

  it('rollout 100 is the default again: the field is left out', async () => {
    const r = await rollout('hello', '2.0', '100');
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await verifiedPayload(sb)).extensions.hello?.versions['2.0']?.rolloutPercent).toBe(100);
    expect(
      ((await rawPayload(sb)) as Doc).extensions.hello.versions['2.0']?.rollout,
    ).toBeUndefined();
  });

  it('rollout 0 holds a version back from every host', async () => {
    const r = await rollout('hello', '1.0', '0');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(((await rawPayload(sb)) as Doc).extensions.hello.versions['1.0']?.rollout).toEqual({
      percent: 0,
    });
  });

  it.each(['101', '-1', '1.5', 'abc', '', '1e2', '0x10'])(
    'PERCENT %j is a usage error (exit 2), repository unchanged',
    async (percent) => {
      const before = await snapshot(sb.repo);
      const r = await rollout('hello', '2.0', percent);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(await snapshot(sb.repo)).toEqual(before);
    },
  );

  it('publish --rollout with a bad percent is a usage error (exit 2), repository unchanged', async () => {
    const image = await buildImage(sb.images, '3.0');
    for (const percent of ['150', 'half']) {
      const before = await snapshot(sb.repo);
      const r = await publish('--rollout', percent, image);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(JSON.parse(r.stdout).error.code).toBe('USAGE');
      expect(await snapshot(sb.repo)).toEqual(before);
    }
  });

  it('publish --rollout without an image is a usage error (it would change nothing)', async () => {
    const before = await snapshot(sb.repo);
    const r = await publish('--rollout', '10');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('rollout NAME VERSION PERCENT');
    expect(await snapshot(sb.repo)).toEqual(before);
  });

  it.each([
    ['an unknown extension', 'nosuch', '1.0', /nosuch is not in the manifest/],
    ['an unknown version', 'hello', '9.9', /hello 9\.9 is not published .*versions: 1\.0, 2\.0/],
    ['a prototype property as version', 'hello', 'constructor', /not published/],
  ])('%s is NOT_IN_MANIFEST (exit 1), repository unchanged', async (_label, name, version, why) => {
    const before = await snapshot(sb.repo);
    const r = await rollout(name, version, '50');
    expect(r.exitCode, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('NOT_IN_MANIFEST');
    expect(r.stderr).toMatch(why);
    expect(await snapshot(sb.repo)).toEqual(before);
  });

  it('a directory without manifest.json is a usage error', async () => {
    const r = await runCli(['rollout', '--repo', sb.images, '--key', sb.key, 'hello', '1.0', '5']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('has no manifest.json');
  });
});
