/**
 * Loads the trusted public keys (PRODUCT.md section 2): every `*.pub` in a directory, or one
 * key file. A file that looks like a key but is not named `*.pub` is not trusted; it is named
 * in a warning (and in the errors that follow from it) instead of being skipped silently, since
 * an operator who dropped `publisher.pem` there meant something by it.
 *
 * Key files are followed through symlinks (an operator may link a key from elsewhere), but only
 * a regular file is read, at most KEY_FILE_MAX bytes, opened without blocking: `trustedKeys`
 * naming /dev/zero or a FIFO is a configuration error, not a read that never ends. A `*.pub`
 * that is not a file (a directory, a FIFO, a dangling symlink) trusts nothing, so it is skipped
 * with a warning, and named in the error when no key is left.
 */
import { constants, existsSync, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { AgentError } from '../errors.ts';
import { keyIdOf, parsePublicKey } from '../manifest/keys.ts';
import { underRoot, type HostPaths } from './paths.ts';

export interface TrustStore {
  keys: Map<string, Uint8Array>;
  /** The file or directory the keys were read from, as the messages name it. */
  source: string;
  /** Files in the directory that look like keys but are not read, each with the reason. */
  ignored: string[];
}

export interface TrustStoreLog {
  warn(obj: object, msg: string): void;
}

/** Key files are small; anything larger is not one and is not read to find out. */
const KEY_FILE_MAX = 64 * 1024;

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'a device';
  return 'not a regular file';
}

/** The text of a key file, or why it is not one (not a regular file, too large, gone). */
async function readKeyFile(file: string): Promise<{ text: string } | { not: string }> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    const link = await lstat(file).then(
      (l) => (l.isSymbolicLink() ? readlink(file) : null),
      () => null,
    );
    if (errno === 'ENOENT' && link !== null)
      return { not: `a symbolic link to ${link}, which does not exist` };
    if (errno === 'ELOOP') return { not: 'a symbolic link that loops' };
    if (errno === 'ENXIO') return { not: 'a socket or a FIFO' };
    if (errno === 'ENOENT') return { not: 'gone (removed while it was read)' };
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { not: kindOf(info) };
    if (info.size > KEY_FILE_MAX)
      return { not: `a file of ${info.size} bytes, too large for a key` };
    const buffer = Buffer.alloc(KEY_FILE_MAX + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > KEY_FILE_MAX) return { not: 'a file too large for a key' };
    return { text: buffer.subarray(0, bytesRead).toString('utf8') };
  } finally {
    await handle.close();
  }
}

/** Why a non-`*.pub` file is not trusted, or null when it does not look like a key at all. */
async function whyIgnored(file: string): Promise<string | null> {
  const read = await readKeyFile(file).catch(() => null);
  if (read === null || 'not' in read) return null;
  const text = read.text;
  const name = basename(file);
  if (extname(name) === '.key' || text.includes('PRIVATE KEY'))
    return `${name} holds a private key: it does not belong on a host, only *.pub public keys do`;
  try {
    parsePublicKey(text, file);
    return `${name} is an ed25519 public key but not named *.pub, so it is not trusted: rename it to ${basename(name, extname(name))}.pub to trust it`;
  } catch {
    return text.trimStart().startsWith('-----BEGIN')
      ? `${name} is not an ed25519 key in a format the agent reads: trusted keys are *.pub files as \`sysext-agent keygen\` writes them (base64, hex or PEM)`
      : null;
  }
}

/** Reads the keys at `location` (a directory of `*.pub`, or one key file). */
export async function loadTrustedKeys(location: string, log?: TrustStoreLog): Promise<TrustStore> {
  let files: string[];
  const ignored: string[] = [];
  try {
    const info = await stat(location);
    if (info.isDirectory()) {
      const names = (await readdir(location)).sort();
      files = names.filter((f) => f.endsWith('.pub')).map((f) => join(location, f));
      for (const other of names.filter((f) => !f.endsWith('.pub') && !f.startsWith('.'))) {
        const why = await whyIgnored(join(location, other));
        if (why === null) continue;
        ignored.push(why);
        log?.warn({ file: join(location, other) }, `trust store ${location}: ${why}`);
      }
    } else if (info.isFile()) files = [location];
    else
      throw new AgentError(
        'CONFIG',
        `trust store ${location}: it is ${kindOf(info)}, not a directory of *.pub keys or a key file: set trustedKeys in the configuration`,
      );
  } catch (err) {
    if (err instanceof AgentError) throw err;
    const errno = (err as NodeJS.ErrnoException).code;
    const reason =
      errno === 'ENOENT'
        ? "not found: put the publisher's NAME.pub there, or set trustedKeys in the configuration"
        : errno === 'EACCES' || errno === 'EPERM'
          ? 'permission denied: run it as root'
          : (err as Error).message;
    throw new AgentError('CONFIG', `trust store ${location}: ${reason}`, { cause: err });
  }
  const keys = new Map<string, Uint8Array>();
  for (const file of files) {
    // EACCES and the like pass on as they are: the CLI names them (src/cli/system-error.ts).
    const read = await readKeyFile(file);
    if ('not' in read) {
      // Skipping one trusts less, never more: the threshold still has to be met by the others.
      const why = `${basename(file)} is ${read.not}: not a key, skipped`;
      if (files.length === 1 && file === location)
        throw new AgentError('CONFIG', `trust store ${location}: ${read.not}, not a key file`);
      ignored.push(why);
      log?.warn({ file }, `trust store ${location}: ${why}`);
      continue;
    }
    const key = parsePublicKey(read.text, file);
    keys.set(keyIdOf(key), key);
  }
  if (keys.size === 0)
    throw new AgentError(
      'CONFIG',
      `trust store ${location}: no *.pub key found${ignored.length > 0 ? ` (${ignored.join('; ')})` : ''}: put the publisher's public key there as NAME.pub (\`sysext-agent keygen\` writes one)`,
    );
  return { keys, source: location, ignored };
}

/**
 * The configured trust store of this host. A configured path is a host path, so with --root it
 * is read under the root; when the tree has none, the path as given (the keys of the machine
 * preparing the image). When neither exists, the message names the path under the root first:
 * that is the one the operator meant to fill.
 */
export async function loadTrustStore(
  paths: HostPaths,
  configured: string,
  log?: TrustStoreLog,
): Promise<TrustStore> {
  const inRoot = underRoot(paths, configured);
  if (existsSync(inRoot) || paths.root === '/') return loadTrustedKeys(inRoot, log);
  if (existsSync(configured)) return loadTrustedKeys(configured, log);
  throw new AgentError(
    'CONFIG',
    `trust store ${inRoot} not found (trustedKeys "${configured}" under --root ${paths.root}; ${configured} outside the root does not exist either): put the publisher's NAME.pub there, or set trustedKeys in the configuration`,
  );
}
