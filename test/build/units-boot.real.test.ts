/**
 * The hardened units on a really booted systemd 257 host (issue 10, PRODUCT.md section 7): the
 * agent's own extension image carries systemd-units/ as shipped, so the update service that runs
 * here is the hardened one. It must still merge for the rest of the system (the acceptance
 * unit's shell runs the newly merged /usr/bin/hello), still roll back a version whose health
 * check fails (exit 3), and the boot-time recovery must still finish an interrupted transaction.
 * systemd-analyze security rates the unit before and after the hardening, on this systemd.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, bootstrapAgent, makeHost, type Boot } from '../helpers/boot.ts';
import { PROJECT, runCli } from '../helpers/cli.ts';
import { missing, REAL_MERGE } from '../helpers/requirements.ts';
import { buildImages, makeSandbox, type Sandbox } from '../helpers/sandbox.ts';

const skip =
  process.arch !== 'x64'
    ? 'the agent images are tested on x86-64 hosts'
    : missing(...REAL_MERGE, 'debootstrap', 'systemd-nspawn');

/** The hardening directives of the update service: without them it is the unit before issue 10. */
const HARDENING =
  /^(CapabilityBoundingSet|NoNewPrivileges|RestrictAddressFamilies|RestrictNamespaces|SystemCallFilter|SystemCallErrorNumber|SystemCallArchitectures|LockPersonality|RestrictRealtime|RestrictSUIDSGID|ProtectHostname)=.*\n/gm;

const PRELUDE = `
out() { printf '%s=%s\\n' "$1" "$2" >> /root/out.txt; }
A=/usr/bin/sysext-agent
unit() { systemctl show -p "$2" --value "$1"; }
score() { systemd-analyze security "$@" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \\([0-9.]*\\).*/\\1/p'; }
out version "$($A --version 2>&1)"
out recover "$(unit sysext-agent-boot-recover.service ConditionResult)/$(unit sysext-agent-boot-recover.service Result)"
out journal "$(test -e /var/lib/sysext-agent/journal.json && echo present || echo absent)"
`;

/** What the agent itself wrote to the journal this boot (its stdout/stderr stream), by priority. */
const journalCounts = `
agentlog() { journalctl -b -u sysext-agent-update.service _TRANSPORT=stdout -o cat "$@"; }
out err-lines "$(agentlog -p err | wc -l)"
out info-lines "$(agentlog -p info..info | wc -l)"
out json-lines "$(agentlog | grep -c '^{')"
agentlog -o short-monotonic | sed 's/^/journal: /'
`;

describe.skipIf(skip)('hardened units on a booted systemd 257 host (nspawn)', () => {
  let sb: Sandbox;
  let host = '';
  const repo = () => join(host, 'srv/repo');
  const version = '1.0.0';

  const publish = async (...images: string[]) => {
    const r = await runCli(['publish', '--repo', repo(), '--key', sb.key, ...images]);
    expect(r.exitCode, r.stderr).toBe(0);
  };

  async function stage(script: string): Promise<Boot> {
    // The units' own journal goes to the console, which explains any failure below.
    const logs =
      'journalctl -b -o cat -u sysext-agent-update.service -u sysext-agent-boot-recover.service';
    const b = await boot(host, `${PRELUDE}\n${script}\n${logs}`);
    expect(b.exitCode, b.console).toBe(0);
    return b;
  }

  beforeAll(async () => {
    sb = await makeSandbox();
    host = join('/var/tmp', `sysext-agent-units-boot-${process.pid}`);
    await makeHost(host);
    const out = join(sb.dir, 'build');
    const r = await execa(
      process.execPath,
      [
        join(PROJECT, 'scripts/build-sysext.ts'),
        ...['--out', out, '--arch', 'x86-64', '--agent-version', version],
      ],
      { cwd: PROJECT, reject: false, stdin: 'ignore' },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const nodeVersion = JSON.parse(
      await readFile(join(PROJECT, 'node_modules/node/package.json'), 'utf8'),
    ).version as string;
    const agent = join(out, `x86-64/sysext-agent_${version}.raw`);
    const node = join(out, `x86-64/sysext-agent-node_${nodeVersion}.raw`);
    await mkdir(repo(), { recursive: true });
    await publish(agent, node, ...(await buildImages(sb.images, ['1.0'])));
    // Bootstrap as PRODUCT.md section 8 says: images as plain files, keys and config in /etc.
    await bootstrapAgent(host, { agent: agent, node: node }, join(sb.keysDir, 'publisher.pub'));
    // The unit as it was before the hardening, rated offline by the same systemd.
    const shipped = await readFile(join(PROJECT, 'systemd-units/sysext-agent-update.service'));
    await mkdir(join(host, 'root/before'), { recursive: true });
    await writeFile(
      join(host, 'root/before/sysext-agent-update.service'),
      shipped.toString().replace(HARDENING, ''),
    );
  }, 600_000);
  afterAll(async () => {
    await sb?.cleanup();
    if (host) await rm(host, { recursive: true, force: true });
  });

  it('the hardened service merges hello 1.0 for the whole system; security rated before and after', async () => {
    const b = await stage(`
out hardened "$(unit sysext-agent-update.service NoNewPrivileges)/$(unit sysext-agent-update.service RestrictNamespaces)"
systemctl start sysext-agent-update.service; out service $?
out result "$(unit sysext-agent-update.service Result)"
out hello "$(/usr/bin/hello 2>&1)"
out after "$(score sysext-agent-update.service)"
out after-offline "$(score --offline=yes /usr/lib/systemd/system/sysext-agent-update.service)"
out before-offline "$(score --offline=yes /root/before/sysext-agent-update.service)"
`);
    const v = b.values;
    expect(v, b.console).toMatchObject({
      version: `sysext-agent ${version}`,
      hardened: 'yes/mnt',
      service: '0',
      result: 'success',
      hello: 'hello 1.0',
    });
    const [after, afterOffline, before] = [v.after, v['after-offline'], v['before-offline']].map(
      Number,
    ) as [number, number, number];
    console.log(
      `systemd-analyze security sysext-agent-update.service (systemd 257, booted): ${after}; ` +
        `offline: before the hardening ${before}, after ${afterOffline}`,
    );
    expect(before, b.console).toBeGreaterThanOrEqual(9);
    expect(after, b.console).toBeGreaterThan(0);
    expect(after).toBeLessThan(before);
    expect(afterOffline).toBeLessThan(before);
  }, 150_000);

  it(
    'a newly published hello 2.0 is merged, and a 3.0 whose health check fails is rolled back (exit 3) under the hardening',
    async () => {
      // Padded past 8 MiB, so the hardened service hashes it on a worker thread (src/hash/):
      // the unit's SystemCallFilter and RestrictNamespaces must allow the thread's clone and
      // futex calls. squashfs ignores bytes past its own size.
      const [hello2] = (await buildImages(sb.images, ['2.0'])) as [string];
      await appendFile(hello2, randomBytes(12 * 1024 * 1024));
      await publish(hello2);
      const good = await stage(`
systemctl start sysext-agent-update.service; out service $?
out result "$(unit sysext-agent-update.service Result)"
out hello "$(/usr/bin/hello 2>&1)"
${journalCounts}
`);
      expect(good.values, good.console).toMatchObject({
        service: '0',
        result: 'success',
        hello: 'hello 2.0',
        // PRODUCT.md section 5: priorities the journal understands, no JSON unless asked for.
        'err-lines': '0',
        'json-lines': '0',
      });
      expect(Number(good.values['info-lines']), good.console).toBeGreaterThan(0);
      const bad = join(sb.dir, 'bad');
      await publish(...(await buildImages(bad, ['3.0'], { healthFail: true })));
      const failed = await stage(`
systemctl start sysext-agent-update.service; out service $?
out result "$(unit sysext-agent-update.service Result)"
out status "$(unit sysext-agent-update.service ExecMainStatus)"
out hello "$(/usr/bin/hello 2>&1)"
out quarantined "$($A --json status | tr -d ' \\n' | grep -o '"hello":{[^}]*}' | grep -o '"quarantined":\\[[^]]*\\]')"
${journalCounts}
`);
      expect(failed.values, failed.console).toMatchObject({
        result: 'exit-code',
        status: '3',
        hello: 'hello 2.0',
        quarantined: '"quarantined":["3.0"]',
      });
      expect(failed.values.service).not.toBe('0');
      // The failed run is found by `journalctl -p err`, and still no JSON.
      expect(Number(failed.values['err-lines']), failed.console).toBeGreaterThan(0);
      expect(failed.values['json-lines'], failed.console).toBe('0');
    },
    2 * 150_000,
  );

  it(
    'an update killed inside its transaction is recovered at the next boot by the hardened boot-time unit',
    async () => {
      const killed = await stage(
        `SYSEXT_AGENT_TEST_CRASH_AT=refresh $A update hello@1.0; out killed $?`,
      );
      expect(killed.values, killed.console).toMatchObject({ killed: '137' });
      const rebooted = await stage(`
out hardened "$(unit sysext-agent-boot-recover.service NoNewPrivileges)"
out hello "$(/usr/bin/hello 2>&1)"
`);
      expect(rebooted.values, rebooted.console).toMatchObject({
        recover: 'yes/success',
        journal: 'absent',
        hardened: 'yes',
        hello: 'hello 2.0',
      });
    },
    2 * 150_000,
  );
});
