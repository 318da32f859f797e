/**
 * sysext-agent(8): one source (docs/sysext-agent.8.md) for the man page and the README's command
 * table, so that they cannot drift; the page covers the contract's command line (PRODUCT.md
 * section 5), files, exit codes and environment; `man` renders it without a warning.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandTable, MAN_SOURCE, renderManPage } from '../../scripts/man.ts';
import { buildProgram } from '../../src/cli/program.ts';
import { PROJECT } from '../helpers/cli.ts';
import { missing } from '../helpers/requirements.ts';

/** Every command of PRODUCT.md section 5 that this version has, and the agent's own. */
const COMMANDS = [
  'check',
  'update',
  'rollback',
  'status',
  'remove',
  'unquarantine',
  'vacuum',
  'recover',
  'rescue',
  'self-test',
  'keygen',
  'sign',
  'publish',
  'rollout',
  'rotate',
  'verity',
  'serve',
];
const OPTIONS = [
  '--root',
  '--config',
  '--json',
  '--log-level',
  '--log-format',
  '--wait',
  '--refresh',
  '--version',
];

describe('sysext-agent(8)', () => {
  let source = '';
  let roff = '';
  beforeAll(async () => {
    source = await readFile(MAN_SOURCE, 'utf8');
    roff = await renderManPage('1.2.3');
  });

  it("the README's command table is the man page source's", async () => {
    const readme = await readFile(join(PROJECT, 'README.md'), 'utf8');
    expect(commandTable(readme)).toBe(commandTable(source));
  });

  it('lists every command of the contract and of the program, and every global option', () => {
    const names = [...commandTable(source).matchAll(/^\| `([a-z-]+)/gm)].map((m) => m[1]);
    expect(names).toEqual(expect.arrayContaining(COMMANDS));
    const program = buildProgram('1.2.3').commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(program));
    const synopsis = /## SYNOPSIS\n([^#]*)/.exec(source)?.[1] ?? '';
    const options = /## OPTIONS\n([^#]*)/.exec(source)?.[1] ?? '';
    for (const option of OPTIONS) {
      expect(synopsis, option).toContain(`\`${option}\``);
      expect(options, option).toContain(`* \`${option}\``);
    }
  });

  it('has the sections an operator looks for: files, exit status, environment, see also', () => {
    for (const section of ['SYNOPSIS', 'COMMANDS', 'OPTIONS', 'FILES', 'EXIT STATUS']) {
      expect(roff).toMatch(new RegExp(`^\\.SH "?${section}"?$`, 'm'));
    }
    expect(roff).toMatch(/^\.TH "SYSEXT\\-AGENT" "8" "[A-Z][a-z]+ \d{4}" "sysext-agent 1\.2\.3"/m);
    for (const path of [
      '/etc/sysext\\-agent/config\\.json',
      '/var/lib/sysext\\-agent/state\\.json',
      '/var/lib/extensions/NAME\\.raw',
    ]) {
      expect(roff).toContain(path);
    }
    const exits = /## EXIT STATUS\n([^#]*)/.exec(source)?.[1] ?? '';
    expect([...exits.matchAll(/^\* `(\d+)`:/gm)].map((m) => m[1])).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '75',
    ]);
    const environment = /## ENVIRONMENT\n([^#]*)/.exec(source)?.[1] ?? '';
    for (const name of ['HTTPS_PROXY', 'NO_PROXY', 'JOURNAL_STREAM']) {
      expect(environment).toContain(`\`${name}\``);
    }
    expect(/## SEE ALSO\n([^#]*)/.exec(source)?.[1]).toContain('systemd-sysext(8)');
    // marked-man leaves HTML entities in code spans; the source must not need any.
    expect(roff).not.toMatch(/&(quot|amp|lt|gt|#\d+);/);
  });

  describe.skipIf(missing('man'))('rendered by man', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sysext-agent-man-'));
      await writeFile(join(dir, 'sysext-agent.8'), roff);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('without a warning, in 80 columns', async () => {
      const r = await execa('man', ['--warnings', '-l', join(dir, 'sysext-agent.8')], {
        env: { MANWIDTH: '80', MAN_KEEP_FORMATTING: '' },
        reject: false,
      });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^SYSEXT-AGENT\(8\)/);
      expect(r.stdout).toMatch(/unquarantine\s+NAME/);
      expect(r.stdout).toContain('JOURNAL_STREAM');
    });

    it('and a broken page is caught (the check can fail)', async () => {
      await writeFile(join(dir, 'broken.8'), `${roff}\n.TS\nl l.\nbroken\n`);
      const r = await execa('man', ['--warnings', '-l', join(dir, 'broken.8')], {
        env: { MANWIDTH: '80' },
        reject: false,
      });
      expect(r.stderr).not.toBe('');
    });
  });
});
