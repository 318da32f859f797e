/**
 * The man page sysext-agent(8) from its one source, docs/sysext-agent.8.md, converted to roff by
 * marked-man. The README's command table is the same table (test/systemd-units/man.test.ts
 * checks that they are equal); `node scripts/man.ts --readme` copies the source's table into
 * README.md, `node scripts/man.ts --out FILE [--agent-version V]` writes the page.
 * scripts/build-sysext.ts installs it as /usr/share/man/man8/sysext-agent.8 in the agent's image.
 */
import { Marked } from 'marked';
import markedMan from 'marked-man';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const PROJECT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const MAN_SOURCE = join(PROJECT, 'docs/sysext-agent.8.md');
const README = join(PROJECT, 'README.md');
/** The page's date: the last change of its content (bump with it), unless SOURCE_DATE_EPOCH. */
const UPDATED = '2026-11-26';

/** The command table of a markdown text: the lines from `| command | does |` to the first non-row. */
export function commandTable(markdown: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^\|\s*command\s*\|\s*does\s*\|$/.test(l));
  if (start < 0) throw new Error('no "| command | does |" table');
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** roff of the page; the date is fixed (reproducible images) unless SOURCE_DATE_EPOCH is set. */
export async function renderManPage(version: string): Promise<string> {
  const source = await readFile(MAN_SOURCE, 'utf8');
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = epoch ? Number(epoch) * 1000 : Date.parse(`${UPDATED}T00:00:00Z`);
  const options = { date, manVersion: `sysext-agent ${version}`, manual: 'System Administration' };
  const marked = new Marked(markedMan, options as object);
  // A relative link (docs/rescue.md) means nothing in a man page: keep its text only.
  return marked.parse(source.replace(/\[([^\]]+)\]\((?!https?:)[^)]+\)/g, '$1'), {
    async: false,
  });
}

/** README.md with its command table replaced by the man page source's. */
export async function readmeWithTable(): Promise<string> {
  const [readme, source] = await Promise.all([
    readFile(README, 'utf8'),
    readFile(MAN_SOURCE, 'utf8'),
  ]);
  return readme.replace(commandTable(readme), commandTable(source));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      readme: { type: 'boolean' },
      'agent-version': { type: 'string', default: 'unknown' },
    },
  });
  if (values.readme) await writeFile(README, await readmeWithTable());
  if (values.out) await writeFile(values.out, await renderManPage(values['agent-version']));
  if (!values.readme && !values.out) {
    console.error('usage: node scripts/man.ts --out FILE [--agent-version V] | --readme');
    process.exit(2);
  }
}
