/**
 * Which image a host gets, against the real systemd-sysext 257 merging inside a debootstrapped
 * Debian trixie tree (PRODUCT.md sections 3.1 and 7; compat.real.test.ts is the same acceptance
 * against systemd 252 on this host). A repository with versions built for ID=_any, for this
 * host (the tree's own os-release), for another VERSION_ID, for ARCHITECTURE=arm64 and for
 * ID=fedora: update installs the newest compatible one, reports the others as held back with
 * their reasons, and never exits 3 for them. An OS update (a new os-release bind-mounted over
 * the tree's /usr/lib/os-release inside the namespace, seen by the agent and systemd-sysext
 * alike) moves the host to the version built for its new release, and back.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReleaseFile } from '../../src/compat/release-file.ts';
import { startServer } from '../../src/serve/server.ts';
import { CLI, PROJECT, runCli } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';
import { inTrixie, trixieTree } from '../helpers/trixie.ts';

// The agent, systemd-sysext and losetup run inside the trixie tree; the host namespaces, mounts
// and chroots it (root, unshare), lends its loop devices, builds the images (mksquashfs), lets
// publish read their extension-release (unsquashfs) and builds the tree (debootstrap).
const skip = missing('root', 'unshare', 'loop-devices', 'mksquashfs', 'unsquashfs', 'debootstrap');

interface HeldBack {
  version: string;
  reason: string;
}
type Report = Record<string, unknown> & {
  extensions: Record<
    string,
    { heldBack: HeldBack[]; currentIncompatible?: string | null } & Record<string, unknown>
  >;
};

describe.skipIf(skip)('compatibility with the real systemd-sysext 257 (trixie tree)', () => {
  let sb: Sandbox;
  let tree: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  /** The tree's own os-release: what "this host" is. */
  let host: { ID: string; VERSION_ID: string };
  /** The VERSION_ID the host moves to in the OS update below. */
  let next: string;
  const nextOsRelease = () => join(sb.dir, 'os-release-next');
  // systemd-sysext 252 applies $SYSTEMD_OS_RELEASE inside each image as well, so the OS update
  // is a bind mount here too, over the tree's /usr/lib/os-release (its /etc/os-release is a
  // symlink to it), made inside the chroot before anything is merged in this namespace.
  const osUpdate = () => `mount --bind '${nextOsRelease()}' /usr/lib/os-release || exit 98`;

  beforeAll(async () => {
    tree = await trixieTree();
    const osRelease = await readFile(join(tree, 'usr/lib/os-release'));
    const fields = parseReleaseFile(osRelease, 257);
    // A testing/sid tree without VERSION_ID would take every ID=debian image (systemd's
    // "rolling release" rule): then "another VERSION_ID" could not be held back.
    expect(fields.ID, 'the trixie tree has no ID= in /usr/lib/os-release').toBeTruthy();
    expect(fields.VERSION_ID, 'the trixie tree has no VERSION_ID= (testing/sid?)').toBeTruthy();
    host = { ID: fields.ID as string, VERSION_ID: fields.VERSION_ID as string };
    next = /^\d+$/.test(host.VERSION_ID) ? String(Number(host.VERSION_ID) + 1) : '99';

    sb = await makeSandbox();
    for (const d of ['sysext-agent', 'extensions'])
      await mkdir(join(sb.varLib, d), { recursive: true });
    // The same os-release with only VERSION_ID changed: an OS update of the tree.
    const updated = osRelease
      .toString('utf8')
      .split('\n')
      .filter((l) => !/^VERSION_ID=/.test(l))
      .concat(`VERSION_ID="${next}"`)
      .join('\n');
    await writeFile(nextOsRelease(), `${updated}\n`);

    const build = async (version: string, release: string[]) =>
      (await buildImages(sb.images, [version], { release }))[0] as string;
    const images = [
      await build('1.0', ['ID=_any']),
      await build('2.0', [`ID=${host.ID}`, `VERSION_ID=${host.VERSION_ID}`]),
      await build('3.0', [`ID=${host.ID}`, `VERSION_ID=${next}`]),
      await build('4.0', ['ID=_any', 'ARCHITECTURE=arm64']),
      await build('5.0', ['ID=fedora', 'VERSION_ID=41']),
    ];
    const published = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, ...images]);
    expect(published.exitCode, published.stderr).toBe(0);

    server = await startServer({ root: sb.repo, host: '127.0.0.1', port: 0 });
    await sb.writeConfig({
      repositories: [server.url],
      extensions: {
        hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
      },
    });
  }, 600_000);
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  /** An agent step: its JSON document to DIR/LABEL.json, its exit code as `LABEL=CODE`. */
  const agent = (label: string, args: string): string =>
    `'${process.execPath}' '${CLI}' --config '${sb.configFile}' --json --log-level warn ${args}` +
    ` > '${sb.dir}/${label}.json'; echo "${label}=$?"`;
  /** `KEY=OUTPUT` of the merged /usr/bin/hello (empty when it is not merged). */
  const hello = (key = 'hello'): string => `echo "${key}=$(/usr/bin/hello 2>/dev/null)"`;

  /** The steps in one fresh namespace of the tree (nothing merged at first, unmerged after). */
  async function inTree(
    ...steps: string[]
  ): Promise<{ values: Record<string, string>; out: string }> {
    const r = await inTrixie(
      tree,
      [PROJECT, dirname(process.execPath), sb.dir],
      {
        'sysext-agent': join(sb.varLib, 'sysext-agent'),
        extensions: join(sb.varLib, 'extensions'),
      },
      [...steps, 'systemd-sysext unmerge >/dev/null 2>&1; true'].join('\n'),
    );
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.exitCode !== 0) throw new Error(`trixie script failed (${r.exitCode}): ${out}`);
    const values: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^([a-z][a-z0-9-]*)=(.*)$/.exec(line);
      if (m) values[m[1] as string] = m[2] as string;
    }
    return { values, out };
  }

  const report = async (label: string): Promise<Report> =>
    JSON.parse(await readFile(join(sb.dir, `${label}.json`), 'utf8')) as Report;

  it('installs the newest compatible version; the others are held back with reasons', async () => {
    const r = await inTree(
      'systemd-sysext --version | head -n1 | sed "s/^/systemd=/"',
      agent('update', 'update'),
      hello(),
      agent('check', 'check'),
    );
    expect(r.values.systemd, r.out).toMatch(/^systemd 257\b/);
    expect(r.values.update, r.out).toBe('0');
    expect(r.values.hello, r.out).toBe('hello 2.0');
    const update = await report('update');
    expect(update).toMatchObject({ extensions: { hello: { result: 'installed', to: '2.0' } } });
    const held = update.extensions.hello?.heldBack;
    expect(held?.map((x) => x.version)).toEqual(['5.0', '4.0', '3.0']);
    expect(held?.[0]?.reason).toContain('ID=fedora');
    expect(held?.[1]?.reason).toContain('ARCHITECTURE=arm64');
    expect(held?.[2]?.reason).toContain(`VERSION_ID=${next}`);
    const check = await report('check');
    expect(check).toMatchObject({
      host: { id: host.ID, versionId: host.VERSION_ID, architecture: 'x86-64' },
      extensions: { hello: { current: '2.0', available: '2.0', action: 'none' } },
    });
    expect((check.host as { systemd: string }).systemd).toMatch(/^257/);
  });

  it('a second run does nothing and exits 0 (no collateral rollback, no retry)', async () => {
    const r = await inTree(agent('again', 'update'), 'systemd-sysext refresh >/dev/null', hello());
    expect(r.values.again, r.out).toBe('0');
    expect(r.values.hello, r.out).toBe('hello 2.0');
  });

  it('after an OS update, status says 2.0 no longer fits, and update moves to 3.0', async () => {
    const r = await inTree(
      osUpdate(),
      `. /usr/lib/os-release; echo "osversion=$VERSION_ID"`,
      agent('status', 'status'),
      agent('updated', 'update'),
      hello(),
    );
    expect(r.values.osversion, r.out).toBe(next);
    const status = await report('status');
    expect(status).toMatchObject({ extensions: { hello: { current: '2.0' } } });
    expect(status.extensions.hello?.currentIncompatible).toContain(`VERSION_ID=${host.VERSION_ID}`);
    expect(r.values.updated, r.out).toBe('0');
    expect(r.values.hello, r.out).toBe('hello 3.0');
    const update = await report('updated');
    expect(update).toMatchObject({ extensions: { hello: { to: '3.0' } } });
    expect(update.extensions.hello?.heldBack.map((x) => x.version)).toEqual(['5.0', '4.0']);
  });

  it('back on the old OS release, the next run returns to 2.0', async () => {
    const r = await inTree(agent('back', 'update'), hello());
    expect(r.values.back, r.out).toBe('0');
    expect(r.values.hello, r.out).toBe('hello 2.0');
  });
});
