/**
 * `npm run demo`: the main job end to end on a built-in default, in a throwaway sandbox.
 * Make a key, publish hello 1.0, serve the repository on 127.0.0.1, update (merging with the
 * real systemd-sysext inside a private mount namespace when run as root), run the merged
 * binary, show status; publish 2.0 and update again. Never touches the host's /usr or
 * extension directories; removes everything it made and stops the server it started.
 */
import { execa, execaSync } from 'execa';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const project = fileURLToPath(new URL('..', import.meta.url));
const cli = join(project, 'src/cli/main.ts');
const fixtures = join(project, 'fixtures/images');

function step(title: string): void {
  process.stdout.write(`\n\x1b[1m==> ${title}\x1b[0m\n`);
}

async function agent(args: string[]): Promise<string> {
  const r = await execa(process.execPath, [cli, '--log-level', 'warn', ...args], {
    stderr: 'inherit',
  });
  return r.stdout;
}

async function publishFixture(repo: string, key: string, version: string): Promise<void> {
  const image = join(fixtures, `hello_${version}.raw`);
  step(`sysext-agent publish --repo repo --key publisher/demo.key hello_${version}.raw`);
  const out = await agent(['publish', '--repo', repo, '--key', key, image]);
  process.stdout.write(`${out}\n`);
}

function canMerge(): string | null {
  if (process.env.SYSEXT_AGENT_DEMO_NO_MERGE) return 'SYSEXT_AGENT_DEMO_NO_MERGE is set';
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const tool of ['unshare', 'systemd-sysext', 'losetup']) {
    if (execaSync('sh', ['-c', `command -v ${tool}`], { reject: false }).exitCode !== 0) {
      return `${tool} is not installed`;
    }
  }
  if (!existsSync('/dev/loop-control')) return 'this kernel has no loop devices';
  return null;
}

async function startServe(repo: string): Promise<{ url: string; stop: () => void }> {
  const child = execa(
    process.execPath,
    [cli, '--log-level', 'warn', 'serve', repo, '--listen', '127.0.0.1:0'],
    {
      stdout: 'pipe',
      stderr: 'inherit',
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const m = /at (http:\/\/\S+)/.exec(chunk.toString());
      if (m?.[1]) resolve(m[1]);
    });
    child.catch(reject);
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** Update and show the result, merged in a private namespace or staged offline with --root. */
async function updateAndShow(
  sandbox: string,
  config: string,
  mergeBlocker: string | null,
): Promise<void> {
  const a = `'${process.execPath}' '${cli}' --log-level warn --config '${config}'`;
  if (mergeBlocker) {
    const root = join(sandbox, 'root');
    process.stdout.write((await agent(['--root', root, '--config', config, 'update'])) + '\n');
    process.stdout.write((await agent(['--root', root, '--config', config, 'status'])) + '\n');
    return;
  }
  const script = `mount --make-rshared / && mount --bind /run /run && mount --bind '${sandbox}/var-lib' /var/lib || exit 99
    echo '$ sysext-agent update'; ${a} update || exit $?
    echo '$ hello   # the binary from the merged /usr of this namespace'; /usr/bin/hello
    echo '$ sysext-agent status'; ${a} status
    systemd-sysext unmerge >/dev/null 2>&1`;
  await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    stdio: 'inherit',
  });
}

async function main(): Promise<void> {
  const sandbox = await mkdtemp(join(tmpdir(), 'sysext-agent-demo-'));
  let server: { url: string; stop: () => void } | undefined;
  try {
    const blocker = canMerge();
    step(`sandbox ${sandbox}`);
    if (blocker) {
      process.stdout.write(
        `NOTE: ${blocker}: the demo stages and switches with --root but SKIPS the real merge\n` +
          `      (systemd-sysext refresh) and running the merged binary. Run as root to see them.\n`,
      );
    }
    // The publisher's private key stays with the publisher; the host trusts only the .pub.
    const keys = join(sandbox, 'keys');
    const publisher = join(sandbox, 'publisher');
    const key = join(publisher, 'demo.key');
    const repo = join(sandbox, 'repo');
    await mkdir(keys);
    await mkdir(publisher);
    await mkdir(join(sandbox, 'var-lib'));

    step('sysext-agent keygen --output publisher/demo; cp publisher/demo.pub keys/');
    process.stdout.write(
      `key id ${await agent(['keygen', '--output', join(publisher, 'demo')])}\n`,
    );
    await copyFile(join(publisher, 'demo.pub'), join(keys, 'demo.pub'));

    await publishFixture(repo, key, '1.0');

    step('sysext-agent serve repo --listen 127.0.0.1:0');
    server = await startServe(repo);
    process.stdout.write(`repository at ${server.url}\n`);

    const config = join(sandbox, 'config.json');
    await writeFile(
      config,
      JSON.stringify(
        {
          repositories: [server.url],
          trustedKeys: keys,
          extensions: {
            hello: { healthCheck: ['/usr/bin/hello', '--selftest'], healthTimeoutSec: 10 },
          },
        },
        null,
        2,
      ),
    );
    step('update to 1.0');
    await updateAndShow(sandbox, config, blocker);

    await publishFixture(repo, key, '2.0');
    step('update to 2.0');
    await updateAndShow(sandbox, config, blocker);
    step('done: sandbox removed, server stopped; the host was not touched');
  } finally {
    server?.stop();
    await rm(sandbox, { recursive: true, force: true });
  }
}

await main();
