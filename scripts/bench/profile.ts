/**
 * A short summary of the .cpuprofile files `node --cpu-prof --cpu-prof-dir=DIR` wrote: one per
 * thread (Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the
 * main thread, the others are worker threads). Per thread: sampled time by category; then the
 * functions with the most self time over all threads.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES = ['GC', 'idle', 'program', 'modules', 'crypto', 'fs', 'network', 'JS'] as const;
type Category = (typeof CATEGORIES)[number];
const LEGEND =
  'modules = module loading/compile, crypto = crypto/hashing, program = V8/native outside JS, ' +
  'JS = the rest (agent, libraries, Node)';

/**
 * By the frame's script. A native function has no url: V8 books the time of a C++ binding (the
 * SHA-256 of crypto.hash, a read) on the JS function that called it, so a frame without one
 * (or a WebAssembly one: Node's TypeScript stripper) takes its nearest caller's.
 */
function categoryOf(fn: string, url: string): Category {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)' || fn === '(root)') return 'program';
  if (/^node:(internal\/(modules|vm|main|bootstrap|deps\/amaro)|module$|vm$)/.test(url)) {
    return 'modules';
  }
  if (/^node:(internal\/)?crypto|\/(verity|hash)\//.test(url) || /hash|sha/i.test(basename(url))) {
    return 'crypto';
  }
  if (/^node:(internal\/)?fs/.test(url)) return 'fs';
  if (
    /^node:(internal\/)?(net|_?https?|_?tls|dns|stream_base_commons|deps\/undici)/.test(url) ||
    /\/undici\/|\/(src|dist)\/net\//.test(url)
  ) {
    return 'network';
  }
  return 'JS';
}

interface Thread {
  label: string;
  total: number;
  byCategory: Map<Category, number>;
}

interface Entry {
  category: Category;
  main: number;
  workers: number;
}

const ms = (us: number): string => (us / 1000).toFixed(0);

export async function summarizeProfiles(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  if (files.length === 0) throw new Error(`node --cpu-prof wrote no profile into ${dir}`);
  const pids = new Set(files.map((f) => f.split('.')[3]));
  const threads: Thread[] = [];
  const entries = new Map<string, Entry>();
  for (const file of files) {
    const [, , , pid, tid] = file.split('.');
    const main = tid === '0';
    const label = `${pids.size > 1 ? `pid ${pid} ` : ''}${main ? 'main' : `worker ${tid}`}`;
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, ProfileNode>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => {
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    const thread: Thread = { label, total: 0, byCategory: new Map() };
    for (const [id, us] of self) {
      const node = byId.get(id)!;
      const { functionName, url, lineNumber } = node.callFrame;
      let scriptOf: ProfileNode | undefined = node;
      while (scriptOf && /^(wasm:|$)/.test(scriptOf.callFrame.url))
        scriptOf = parent.get(scriptOf.id);
      const category = categoryOf(functionName, scriptOf?.callFrame.url ?? '');
      thread.total += us;
      thread.byCategory.set(category, (thread.byCategory.get(category) ?? 0) + us);
      if (['GC', 'idle', 'program'].includes(category)) continue;
      const file = url === '' ? 'native' : url.startsWith('node:') ? url : basename(url);
      const key = `${functionName || `(anonymous):${lineNumber + 1}`} (${file})`;
      const entry = entries.get(key) ?? { category, main: 0, workers: 0 };
      if (main) entry.main += us;
      else entry.workers += us;
      entries.set(key, entry);
    }
    threads.push(thread);
  }

  const out: string[] = [];
  const width = Math.max(7, ...threads.map((t) => t.label.length));
  const cols = ['sampled', ...CATEGORIES];
  out.push(`${'thread'.padEnd(width)}  ${cols.map((c) => c.padStart(7)).join(' ')}   (ms)`);
  for (const t of threads) {
    const cells = [t.total, ...CATEGORIES.map((c) => t.byCategory.get(c) ?? 0)];
    out.push(`${t.label.padEnd(width)}  ${cells.map((c) => ms(c).padStart(7)).join(' ')}`);
  }
  out.push(LEGEND, '', 'top 12 by self time over all threads (GC, idle and program left out):');
  out.push(`${['all', 'main', 'workers'].map((h) => h.padStart(6)).join(' ')}  (ms)`);
  const top = [...entries]
    .map(([key, e]) => ({ key, ...e, all: e.main + e.workers }))
    .sort((a, b) => b.all - a.all)
    .slice(0, 12);
  for (const e of top) {
    const nums = [e.all, e.main, e.workers].map((n) => ms(n).padStart(6)).join(' ');
    out.push(`${nums}  ${e.category.padEnd(7)} ${e.key}`);
  }
  return out;
}
