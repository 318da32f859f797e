/**
 * Logging as PRODUCT.md section 5 says, in process: when stderr is the journal (JOURNAL_STREAM
 * naming its device and inode), the sd-daemon priority prefix of each level; elsewhere human
 * lines; always one line per event, no JSON, no stack; the default level per style; and the
 * `--wait[=DURATION]` option's parsing (src/cli/host.ts).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/errors.ts';
import { parseWaitOption, waitArgs, waitMsOf } from '../../src/cli/host.ts';
import { resolveLogging } from '../../src/cli/log/create.ts';
import { formatRecord, type LogRecord } from '../../src/cli/log/human.ts';
import { isJournalStream, priorityPrefix } from '../../src/cli/log/journal.ts';
import { screen } from '../../src/cli/log/screen.ts';
import { wantsBar } from '../../src/cli/progress.ts';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** What pino's `err` serializer makes of an error. */
function serialized(err: Error): Record<string, unknown> {
  return { type: err.name, message: err.message, stack: err.stack, code: (err as AgentError).code };
}

describe('journal detection (JOURNAL_STREAM = DEV:INODE of stderr)', () => {
  let dir = '';
  let fd = -1;
  let devIno = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sysext-agent-log-'));
    await writeFile(join(dir, 'stream'), '');
    fd = openSync(join(dir, 'stream'), 'a');
    const st = fstatSync(fd, { bigint: true });
    devIno = `${st.dev}:${st.ino}`;
  });
  afterAll(async () => {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });

  it('is the journal only when the variable names this descriptor', () => {
    expect(isJournalStream(devIno, fd)).toBe(true);
    const [dev, ino] = devIno.split(':');
    expect(isJournalStream(`${dev}:${BigInt(ino as string) + 1n}`, fd)).toBe(false);
    expect(isJournalStream(`${BigInt(dev as string) + 1n}:${ino}`, fd)).toBe(false);
  });

  it('is not the journal without the variable, or with one that is not DEV:INODE', () => {
    for (const value of [undefined, '', 'journal', '12', '12:', ':34', '1:2:3', '-1:2', ' 1:2'])
      expect(isJournalStream(value, fd), String(value)).toBe(false);
  });

  it('is not the journal for a closed descriptor', () => {
    expect(isJournalStream(devIno, 987654)).toBe(false);
  });
});

describe('line formats', () => {
  it('sd-daemon priorities: <3> error and fatal, <4> warn, <6> info, <7> debug and trace', () => {
    expect(priorityPrefix(LEVELS.fatal)).toBe('<3>');
    expect(priorityPrefix(LEVELS.error)).toBe('<3>');
    expect(priorityPrefix(LEVELS.warn)).toBe('<4>');
    expect(priorityPrefix(LEVELS.info)).toBe('<6>');
    expect(priorityPrefix(LEVELS.debug)).toBe('<7>');
    expect(priorityPrefix(LEVELS.trace)).toBe('<7>');
  });

  it('journal: the prefix, then the message and key=value fields, no time, no pid, no JSON', () => {
    for (const [name, level] of Object.entries(LEVELS)) {
      const line = formatRecord(
        { level, time: 1767225600000, pid: 4242, msg: 'mirror failed', url: 'http://a/b', n: 3 },
        'journal',
      );
      expect(line, name).toBe(`${priorityPrefix(level)}mirror failed url=http://a/b n=3`);
    }
  });

  it('human: labelled by severity, prefixed by the program name', () => {
    const line = (level: number) => formatRecord({ level, msg: 'm' }, 'human');
    expect(line(LEVELS.error)).toBe('sysext-agent: error: m');
    expect(line(LEVELS.fatal)).toBe('sysext-agent: error: m');
    expect(line(LEVELS.warn)).toBe('sysext-agent: warning: m');
    expect(line(LEVELS.info)).toBe('sysext-agent: m');
    expect(line(LEVELS.debug)).toBe('sysext-agent: debug: m');
  });

  it('one line per event: newlines folded, values with spaces quoted, objects flattened', () => {
    const record: LogRecord = {
      level: LEVELS.error,
      msg: 'first line\nsecond line\r\n  third',
      reason: 'a "quoted" value = spaced\nand wrapped',
      failures: { hello: 'hello 2.0: health check failed', world: { deep: { deeper: 1 } } },
      names: ['hello', 'world'],
      moves: [{ name: 'hello', to: '2.0' }],
      flag: true,
      none: null,
      skipped: undefined,
    };
    for (const style of ['journal', 'human'] as const) {
      const line = formatRecord(record, style);
      expect(line.split('\n'), style).toHaveLength(1);
      expect(line).toContain('first line | second line | third');
      expect(line).toContain('reason="a \\"quoted\\" value = spaced | and wrapped"');
      expect(line).toContain('failures.hello="hello 2.0: health check failed"');
      expect(line).toContain('failures.world.deep=...');
      expect(line).toContain('names="hello, world"');
      expect(line).toContain('moves.0.name=hello moves.0.to=2.0');
      expect(line).toContain('flag=true none=null');
      expect(line).not.toContain('skipped');
      expect(line).not.toMatch(/^\s*(<\d>)?\{/);
    }
  });

  it('an error field is its message (and code), never its stack', () => {
    const err = new AgentError('NETWORK', 'GET http://x/: connect ECONNREFUSED');
    const line = formatRecord(
      { level: LEVELS.warn, msg: 'mirror failed', err: serialized(err) },
      'journal',
    );
    expect(line).toBe('<4>mirror failed err="GET http://x/: connect ECONNREFUSED (NETWORK)"');
    expect(line).not.toContain(' at ');
  });

  it('a field the message already says (as a whole word) is not repeated', () => {
    const record = { level: LEVELS.info, msg: 'attempt 1/5 failed: HTTP 503', attempt: 1, n: 3 };
    expect(formatRecord(record, 'journal')).toBe('<6>attempt 1/5 failed: HTTP 503 n=3');
  });

  it('a record without a message is its fields', () => {
    expect(formatRecord({ level: LEVELS.info, name: 'hello' }, 'journal')).toBe('<6>name=hello');
  });

  it('while a progress bar is shown, a human line first clears the bar line', () => {
    expect(screen.linePrefix()).toBe('');
    screen.barStarted();
    expect(screen.linePrefix()).toBe('\r\x1b[2K');
    screen.barStopped();
    expect(screen.linePrefix()).toBe('');
  });
});

describe('style and default level (resolveLogging)', () => {
  it('auto: journal lines at info when stderr is the journal, human lines at warn elsewhere', () => {
    expect(resolveLogging({}, true)).toEqual({ style: 'journal', level: 'info' });
    expect(resolveLogging({}, false)).toEqual({ style: 'human', level: 'warn' });
    expect(resolveLogging({ format: 'auto' }, false)).toEqual({ style: 'human', level: 'warn' });
  });

  it('--log-format json: pino JSON at info; human and journal can be forced', () => {
    expect(resolveLogging({ format: 'json' }, true)).toEqual({ style: 'json', level: 'info' });
    expect(resolveLogging({ format: 'human' }, true)).toEqual({ style: 'human', level: 'warn' });
    expect(resolveLogging({ format: 'journal' }, false)).toEqual({
      style: 'journal',
      level: 'info',
    });
  });

  it('--log-level wins over the default', () => {
    expect(resolveLogging({ level: 'debug' }, false)).toEqual({ style: 'human', level: 'debug' });
    expect(resolveLogging({ level: 'error' }, true)).toEqual({ style: 'journal', level: 'error' });
  });

  it('an unknown level or format is a usage error naming the choices', () => {
    for (const settings of [{ level: 'loud' }, { format: 'xml' }]) {
      let caught: unknown;
      try {
        resolveLogging(settings, false);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AgentError);
      expect((caught as AgentError).code).toBe('USAGE');
      expect((caught as AgentError).message).toMatch(/must be one of/);
    }
  });
});

describe('progress bar', () => {
  it('only on a terminal, without --json, with human log lines', () => {
    expect(wantsBar({}, true, 'human')).toBe(true);
    expect(wantsBar({}, false, 'human')).toBe(false);
    expect(wantsBar({ json: true }, true, 'human')).toBe(false);
    expect(wantsBar({}, true, 'journal')).toBe(false);
    expect(wantsBar({}, true, 'json')).toBe(false);
  });
});

describe('--wait[=DURATION] (src/cli/host.ts)', () => {
  it('a bare --wait becomes --wait= (the default bound), so it never takes the next word', () => {
    expect(waitArgs(['--wait', 'update'])).toEqual(['--wait=', 'update']);
    expect(waitArgs(['update', '--wait', 'hello'])).toEqual(['update', '--wait=', 'hello']);
    expect(waitArgs(['--wait=90s', 'update'])).toEqual(['--wait=90s', 'update']);
    expect(waitArgs(['sign', '--', '--wait'])).toEqual(['sign', '--', '--wait']);
  });

  it('durations as PRODUCT.md gives them; the default is 10 minutes', () => {
    expect(parseWaitOption('90s')).toBe(90_000);
    expect(parseWaitOption('15m')).toBe(900_000);
    expect(parseWaitOption('')).toBe(600_000);
    expect(() => parseWaitOption('5x')).toThrow(/invalid duration/);
    expect(waitMsOf({})).toBe(0);
    expect(waitMsOf({ wait: true })).toBe(600_000);
    expect(waitMsOf({ wait: 2000 })).toBe(2000);
  });
});
