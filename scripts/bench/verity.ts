/**
 * dm-verity tree: the `verity` CLI process and `verityOfFile` in this process, vs `veritysetup
 * format` of the same image with the same salt and UUID. Root hashes and hash files must agree.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { verityOfFile } from '../../src/verity/file.ts';
import { details, sec, timeRow } from './report.ts';
import { pairs, timed } from './run.ts';
import type { Bench, Sample } from './run.ts';

const TARGET = 'ref/ours >= 1.25 (ours/ref <= 0.80)';

export async function benchVerity(b: Bench, image: string): Promise<void> {
  const salt = randomBytes(32);
  const uuid = randomUUID();
  const saltHex = salt.toString('hex');
  const oursFile = join(b.work, 'ours.verity');
  const refFile = join(b.work, 'veritysetup.verity');
  const roots = new Set<string>();

  const cliRun = async (nodeFlags: readonly string[]): Promise<Sample> => {
    await rm(oursFile, { force: true });
    const args = ['verity', image, '--salt', saltHex, '--uuid', uuid, '--hash-file', oursFile];
    const s = await timed(b.work, b.node, [...nodeFlags, b.cli, ...args]);
    roots.add(s.stdout.trim());
    return s;
  };

  process.stderr.write('dm-verity: CLI and veritysetup format (1 warm-up each)');
  const cli = await pairs(b.runs, async (_i, which) => {
    process.stderr.write('.');
    if (which === 'a') return (await cliRun([])).ms;
    await rm(refFile, { force: true });
    const s = await timed(b.work, 'veritysetup', [
      'format',
      `--salt=${saltHex}`,
      `--uuid=${uuid}`,
      image,
      refFile,
    ]);
    const m = /^Root hash:\s+([0-9a-f]+)\s*$/m.exec(s.stdout);
    if (!m?.[1]) throw new Error(`veritysetup format printed no root hash:\n${s.stdout}`);
    roots.add(m[1]);
    return s.ms;
  });

  process.stderr.write('\ndm-verity: verityOfFile in this process (1 warm-up)');
  const inProcess: number[] = [];
  for (let i = -1; i < b.runs; i++) {
    process.stderr.write('.');
    const started = performance.now();
    const result = await verityOfFile(image, { salt, uuid });
    if (i >= 0) inProcess.push(performance.now() - started);
    roots.add(result.rootHash);
  }
  process.stderr.write('\n');

  if (roots.size !== 1) throw new Error(`root hashes disagree: ${[...roots].join(' ')}`);
  if (!(await readFile(oursFile)).equals(await readFile(refFile))) {
    throw new Error('hash files differ: `verity --hash-file` vs `veritysetup format`');
  }
  const root = [...roots][0]!;
  const agrees = (s: Sample, what: string): Sample => {
    if (s.stdout.trim() !== root) throw new Error(`${what} printed ${s.stdout}, not ${root}`);
    return s;
  };

  timeRow('dm-verity tree: CLI', 'veritysetup', cli.a, cli.b, 0.8, TARGET, sec, async (flags) =>
    agrees(await cliRun(flags), 'verity CLI'),
  );
  // Again in a child process of its own, so that a profile sees only this (and its workers). A
  // script file, not `--input-type=module -e`: worker threads inherit the flags.
  const module = pathToFileURL(join(b.project, 'src/verity/file.ts')).href;
  const script = join(b.work, 'verity-of-file.mjs');
  await writeFile(
    script,
    `const { verityOfFile } = await import(${JSON.stringify(module)});\n` +
      `const r = await verityOfFile(${JSON.stringify(image)}, ` +
      `{ salt: Buffer.from('${saltHex}', 'hex'), uuid: '${uuid}' });\n` +
      'process.stdout.write(r.rootHash);\n',
  );
  timeRow(
    'dm-verity tree: verityOfFile',
    'veritysetup',
    inProcess,
    cli.b,
    0.8,
    TARGET,
    sec,
    async (flags) => agrees(await timed(b.work, b.node, [...flags, script]), 'verityOfFile'),
  );
  details.push(`dm-verity: root hash ${root} (CLI, verityOfFile and veritysetup agree)`);
}
