// Text as systemd's env-file parser checks it: check_utf8ness_and_warn() (src/basic/env-file.c)
// refuses the whole file when a key or value is not valid UTF-8 by utf8_is_valid()
// (src/basic/utf8.c, v252 and v257.13), which is stricter than a UTF-8 decoder.
import { AgentError } from '../errors.ts';

/** A string's UTF-16 units, checked as utf8_is_valid() would check their UTF-8 form. */
export function fromUnits(units: readonly number[], key?: string): string {
  let text = '';
  // In slices: spreading a long value into one call would overflow the argument stack.
  for (let i = 0; i < units.length; i += 8192) {
    text += String.fromCharCode(...units.slice(i, i + 8192));
  }
  return checkUnichars(text, key);
}

/** Bytes, decoded strictly; a byte order mark is kept (systemd reads it as part of a key). */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function fromBytes(units: readonly number[], key?: string): string {
  let text: string;
  try {
    text = UTF8.decode(Uint8Array.from(units));
  } catch {
    throw invalidUtf8(key);
  }
  return checkUnichars(text, key);
}

/**
 * systemd's unichar_is_valid() (src/basic/utf8.c) also refuses what a UTF-8 decoder accepts:
 * the noncharacters U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF. Lone surrogates cannot come from
 * bytes; in a string they are refused too, as systemd refuses U+D800..U+DFFF.
 */
function checkUnichars(text: string, key?: string): string {
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const bad =
      (cp & 0xfffff800) === 0xd800 || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
    if (bad) throw invalidUtf8(key);
  }
  return text;
}

function invalidUtf8(key: string | undefined): AgentError {
  return refusedFile(`invalid UTF-8 in ${key === undefined ? 'a key' : `the value of ${key}`}`);
}

/** The error for a release file systemd would not read at all. */
export function refusedFile(what: string): AgentError {
  return new AgentError('BAD_IMAGE', `release file: ${what}; systemd refuses the whole file`);
}
