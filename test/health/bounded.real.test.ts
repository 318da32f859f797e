/**
 * Health checks that misbehave, against the real merge (systemd-sysext in a private mount
 * namespace): one that hangs, one that fails leaving a background child, one that prints
 * hundreds of MB and then hangs. Each ends at its timeout with exit 3, 1.0 merged again, no
 * process of the check left, and the agent's peak memory (GNU time, %M) under 200 MiB. A check
 * that passes but leaves a child behind does not hold the run either.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCommand } from '../helpers/cli.ts';
import { realHost, runBin, type RealHost } from '../helpers/real-host.ts';
import { missing, missingFor, toolPath } from '../helpers/requirements.ts';
import { buildImages } from '../helpers/sandbox.ts';

const skip = missingFor('merge') ?? missing('time');
const MIB = 1024;

function alive(pid: number): boolean {
  try {
    // A zombie has been killed; only its parent has not reaped it yet.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

describe.skipIf(skip)('health checks that hang, leave children or flood output', () => {
  let h: RealHost;
  const pidFile = () => join(h.sb.dir, 'check.pids');
  const rssFile = () => join(h.sb.dir, 'agent.rss');

  /** `update` under GNU time; the check's PIDs go to check.pids. */
  async function updateWith(script: string, timeoutSec: number, args = 'update') {
    await rm(pidFile(), { force: true });
    await h.configure({
      hello: {
        healthCheck: ['/bin/sh', '-c', `echo $$ >> '${pidFile()}'; ${script}`],
        healthTimeoutSec: timeoutSec,
      },
    });
    const agent = `${cliCommand()} --config '${h.sb.configFile}' --log-level warn --json ${args}`;
    const r = await h.ns(
      `'${toolPath('time')}' -f %M -o '${rssFile()}' ${agent} > '${h.sb.dir}/update.json'; echo "update=$?"`,
      runBin('hello'),
    );
    const pids = (await readFile(pidFile(), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map(Number);
    const rssKiB = Number((await readFile(rssFile(), 'utf8')).trim().split('\n').pop());
    return { ...r, pids, rssKiB, report: await h.json('update') };
  }

  beforeAll(async () => {
    h = await realHost({ hello: {} });
    const [v1, v2] = await buildImages(h.sb.images, ['1.0', '2.0']);
    await h.publish(v1 as string);
    const r = await h.ns(h.run('install', 'update'), runBin('hello'));
    expect(r.values.install, r.stderr).toBe('0');
    await h.publish(v2 as string);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const cases: [string, string, number][] = [
    ['hangs (sleep 900)', 'sleep 900', 2],
    ['fails at once, leaving sleep 900 behind', `sleep 900 & echo $! >> '$PIDS'; exit 1`, 2],
    ['prints 400 MB, then hangs', 'head -c 400000000 /dev/zero; sleep 900', 4],
  ];
  it.each(cases)('a check that %s: exit 3, 1.0 merged, nothing left', async (_w, script, t) => {
    // 2.0 is quarantined after the first case: each later try is deliberate.
    const r = await updateWith(script.replace('$PIDS', pidFile()), t, 'update --allow-quarantined');
    expect(r.values.update, r.stderr).toBe('3');
    expect(r.values.hello).toBe('hello 1.0');
    expect(r.report).toMatchObject({ extensions: { hello: { result: 'failed', to: '2.0' } } });
    expect(r.pids.length).toBeGreaterThan(0);
    for (const pid of r.pids) expect(alive(pid), `process ${pid} of the check`).toBe(false);
    console.log(`health check that ${_w}: agent peak RSS ${Math.round(r.rssKiB / MIB)} MiB`);
    expect(r.rssKiB).toBeGreaterThan(0);
    expect(r.rssKiB).toBeLessThan(200 * MIB);
  });

  it('a check that passes but leaves sleep 900 behind: exit 0, 2.0 merged, nothing left', async () => {
    const r = await updateWith(
      `sleep 900 & echo $! >> '${pidFile()}'; exit 0`,
      30,
      'update --allow-quarantined',
    );
    expect(r.values.update, r.stderr).toBe('0');
    expect(r.values.hello).toBe('hello 2.0');
    expect(r.pids.length).toBe(2);
    for (const pid of r.pids) expect(alive(pid), `process ${pid} of the check`).toBe(false);
  });
});
