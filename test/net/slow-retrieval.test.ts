/**
 * Slow retrieval (TUF; issue 11 class 4): a server that sends one byte every half second is cut
 * off, with SLOW_RETRIEVAL and exit 1, within the configured bounds: the manifest by its total
 * deadline (network.documentTimeoutSec), an image by its minimum rate over a window
 * (network.minBytesPerSec, network.rateWindowSec). A slow server that keeps above them still
 * completes. The real CLI, `--root` without refresh, committed fixture images, the in-process
 * fault server (drip mode): no root, no tools. The bounds are shrunk (1 s) to keep the test
 * short; nothing asserts wall-clock time but the test's own timeout.
 *
 * "Host unchanged": the snapshot of the root and of a victim directory next to it are equal
 * before and after, except ROOT/var/lib/sysext-agent/partial, where an image cut short leaves
 * the bytes it received for the next run to resume from (PRODUCT.md section 2).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { makeSandbox, snapshot, type Sandbox } from '../helpers/sandbox.ts';

const MANIFEST = '/repo/manifest.json';
const IMAGE = '/repo/hello/hello_1.0.raw';
const PARTIAL_DIR = './var/lib/sysext-agent/partial';

/** Small bounds: a 1 s deadline and window; the floor is 4x below the steady case's rate. */
const NETWORK = {
  connectTimeoutSec: 2,
  idleTimeoutSec: 2,
  attempts: 2,
  maxTotalSec: 30,
  documentTimeoutSec: 1,
  minBytesPerSec: 512,
  rateWindowSec: 1,
};

function withoutPartials(snap: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(snap).filter(([k]) => !k.startsWith(PARTIAL_DIR)));
}

describe('slow retrieval: a dripping server is cut off, a slow steady one is not', () => {
  let sb: Sandbox;
  let server: FaultServer;
  let roots = 0;
  const victim = () => join(sb.dir, 'victim');

  /** A fresh host root (nothing installed) configured for the fault server. */
  async function freshRoot(network: Record<string, number> = {}): Promise<string> {
    const root = join(sb.dir, `root-${++roots}`);
    await mkdir(join(root, 'etc/sysext-agent'), { recursive: true });
    // A host the agent ran on before: its state directory exists (partial/ goes there).
    await mkdir(join(root, 'var/lib/sysext-agent'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
    await writeFile(
      join(root, 'etc/sysext-agent/config.json'),
      JSON.stringify({
        repositories: [`${server.url}repo/`],
        trustedKeys: sb.keysDir,
        extensions: { hello: {} },
        network: { ...NETWORK, ...network },
      }),
    );
    return root;
  }

  async function update(root: string) {
    const r = await runCli(['--root', root, '--json', '--log-level', 'silent', 'update']);
    const doc = JSON.parse(r.stdout) as { error?: { code: string; message: string } };
    return { ...r, error: doc.error };
  }

  /** Runs update on a fresh root and expects SLOW_RETRIEVAL with the host as it was. */
  async function expectSlow(root: string): Promise<string> {
    const before = { root: await snapshot(root), victim: await snapshot(victim()) };
    const r = await update(root);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.error?.code).toBe('SLOW_RETRIEVAL');
    expect(withoutPartials(await snapshot(root))).toEqual(withoutPartials(before.root));
    expect(await snapshot(victim())).toEqual(before.victim);
    return r.error?.message ?? '';
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    const image = join(sb.images, 'hello_1.0.raw');
    await copyFile(join(PROJECT, 'fixtures/images/hello_1.0.raw'), image);
    const pub = await runCli(['publish', '--repo', sb.repo, '--key', sb.key, image]);
    expect(pub.exitCode, pub.stderr).toBe(0);
    await mkdir(victim());
    await writeFile(join(victim(), 'precious'), 'an admin file next to the agent tree\n');
    // The sandbox directory is served: the repository is at /repo/.
    server = await startFaultServer(sb.dir);
  });
  afterAll(async () => {
    await server?.close();
    await sb?.cleanup();
  });

  it('a manifest dripping one byte every 500 ms: SLOW_RETRIEVAL at the deadline, not retried', async () => {
    server.clearFaults();
    server.resetStats();
    server.setFault(MANIFEST, { drip: { everyMs: 500 } });
    const message = await expectSlow(await freshRoot());
    expect(message).toContain('documentTimeoutSec');
    const stats = server.stats(MANIFEST);
    // One request (a new attempt would cost the same deadline), cut long before its end, and
    // no image was asked for.
    expect(stats.requests).toBe(1);
    expect(stats.aborted).toBe(1);
    expect(server.stats(IMAGE).requests).toBe(0);
  });

  it('a manifest sent slowly but within the deadline is accepted and the update completes', async () => {
    server.clearFaults();
    server.setFault(MANIFEST, { slowBytesPerSec: 8192 });
    const r = await update(await freshRoot({ documentTimeoutSec: 10 }));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ result: 'staged', to: '1.0' });
  });

  it('an image dripping one byte every 500 ms: SLOW_RETRIEVAL below the minimum rate, each attempt cut', async () => {
    server.clearFaults();
    server.resetStats();
    server.setFault(IMAGE, { drip: { everyMs: 500 } });
    const message = await expectSlow(await freshRoot());
    expect(message).toContain('minBytesPerSec');
    const stats = server.stats(IMAGE);
    // Transient: the second attempt resumes, and is cut as well.
    expect(stats.requests).toBe(2);
    expect(stats.aborted).toBe(2);
    expect(stats.bodyBytes).toBeLessThan(4096);
  });

  it('an image at 2 KiB/s, four times the floor, over several windows: installed', async () => {
    server.clearFaults();
    server.setFault(IMAGE, { slowBytesPerSec: 2048 });
    const r = await update(await freshRoot());
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).extensions.hello).toMatchObject({ result: 'staged', to: '1.0' });
  });

  it('minBytesPerSec 0 turns the floor off: a drip then ends only at the idle timeout', async () => {
    server.clearFaults();
    server.resetStats();
    // 2.5 s between bytes, past the 2 s idle timeout: the stall rule, not the floor, ends it.
    server.setFault(IMAGE, { drip: { everyMs: 2500 } });
    const root = await freshRoot({ minBytesPerSec: 0, attempts: 1 });
    const r = await update(root);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.error?.code).toBe('NETWORK');
    expect(r.error?.message).toContain('idleTimeoutSec');
  });
});
