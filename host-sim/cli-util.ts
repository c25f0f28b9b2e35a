// Shared bits of the command line: the one-line error, flag checks, the program's version.
// No message ever repeats what a flag or an argument was given for a secret (--api-key,
// --reset-secret), and nothing unknown is echoed at all: a mistyped secret flag is still a secret.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const PROG = 'trackagent-sim';

/** Flags whose values are keys or secrets: never printed back. */
export const SECRET_FLAGS = new Set(['api-key', 'reset-secret']);

/** A failure the user can fix: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(readonly what: string, readonly todo: string) {
    super(`${what}: ${todo}`);
  }
}

export function fail(what: string, todo: string): never {
  throw new UsageError(what, todo);
}

/** The package's version, for --version. */
export function version(): string {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
  try {
    return String(JSON.parse(fs.readFileSync(file, 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `--flag -5` as `--flag=-5` for flags that take a value: parseArgs would take `-5` for a flag
 * of its own ("ambiguous"), so negative numbers could only be given as `--flag=-5`.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    if (name && options[name]?.type === 'string' && i + 1 < argv.length && /^-(\d|\.\d)/.test(argv[i + 1])) {
      out.push(`${a}=${argv[++i]}`);
    } else out.push(a);
  }
  return out;
}

/** parseArgs with errors turned into one clear line that never repeats a value. */
export function parse<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const err = e as Error & { code?: string };
    const msg = err.message;
    // The flag's name only: `--api-key=ak_...` must not come back as typed.
    const flag = /'(-{1,2}[^' =]+)/.exec(msg)?.[1];
    const help = `see ${PROG} ${command} --help`;
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${command}: unknown flag ${flag ?? ''}`.trimEnd(), help);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/argument missing|ambiguous/.test(msg)) fail(`${command}: ${flag} needs a value`, help);
      fail(`${command}: ${flag ?? 'a flag'} takes no value`, help);
    }
    // Not repeated: a stray argument is often a value pasted without its flag.
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') fail(`${command}: unexpected argument (not a flag)`, `flags start with -- (${help})`);
    fail(`${command}: the flags cannot be read`, help);
  }
}

/** How a flag's value may appear in a message: quoted, or not at all for a secret. */
export function shown(flag: string, v: string): string {
  return SECRET_FLAGS.has(flag) ? '(value not shown)' : `'${v.length > 80 ? `${v.slice(0, 77)}...` : v}'`;
}

export function positiveInt(command: string, flag: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1 || Number(v) > max) fail(`${command}: --${flag} ${shown(flag, v)} is not a whole number from 1 to ${max}`, `give e.g. --${flag} ${dflt}`);
  return Number(v);
}

export function positiveNumber(command: string, flag: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) fail(`${command}: --${flag} ${shown(flag, v)} is not a number above 0 and at most ${max}`, `give e.g. --${flag} ${dflt}`);
  return n;
}

export function integer(command: string, flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) fail(`${command}: --${flag} ${shown(flag, v)} is not a whole number`, `give e.g. --${flag} ${dflt}`);
  return Number(v);
}

/** A port: 0 (any free one) to 65535. */
export function port(command: string, v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v.trim()) || Number(v) > 65535) fail(`${command}: --port ${shown('port', v)} is not a port from 0 to 65535`, 'give e.g. --port 8080, or 0 for any free one');
  return Number(v);
}

/** Why a file operation failed, in words (the error code alone says little to most people). */
export function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or folder', EACCES: 'permission denied', EPERM: 'not permitted', EISDIR: 'it is a folder',
    ENOTDIR: 'a part of the path is a file, not a folder', EEXIST: 'it already exists', ENOSPC: 'no space left on the disk',
    EROFS: 'the file system is read-only', EMFILE: 'too many open files',
  };
  if (code && words[code]) return words[code];
  return code ?? (e as Error)?.message ?? String(e);
}

/**
 * A folder the command will write into (--state DIR): made when missing; refused at once when
 * it is a file or not writable, not at the end of a run (or ten seconds into a server's life).
 */
export function writableDir(command: string, flag: string, dir: string): string {
  try {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) fail(`${command}: --${flag} ${dir} is a file, not a folder`, `give a folder (it is made when missing), e.g. --${flag} build/state`);
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    fail(`${command}: cannot use --${flag} ${dir} (${why(e)})`, `give a folder this user can write, e.g. --${flag} build/state`);
  }
  return dir;
}

/**
 * A file the command will write (and keep writing): its folder must exist (or is made, with
 * makeDir) and be writable, checked before a run rather than after it.
 */
export function writableFile(command: string, flag: string, file: string, o: { makeDir?: boolean } = {}): string {
  const dir = path.dirname(path.resolve(file));
  try {
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) fail(`${command}: --${flag} ${file} is a folder`, `give a file name, e.g. --${flag} ${path.join(file, 'out')}`);
    // The nearest part of the path that exists must be a folder (a file there cannot hold one).
    let up = dir;
    while (!fs.existsSync(up) && path.dirname(up) !== up) up = path.dirname(up);
    if (!fs.statSync(up).isDirectory()) fail(`${command}: --${flag} ${file}: ${up} is not a folder`, 'give a file in a folder');
    if (o.makeDir) fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    fail(`${command}: cannot write --${flag} ${file} (${path.dirname(file)}: ${why(e)})`, 'give a file in an existing folder this user can write');
  }
  return file;
}
