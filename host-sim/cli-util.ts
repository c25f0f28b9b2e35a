// Shared bits of the command line: the one-line error and flag checks.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const PROG = 'trackagent-sim';

/** A failure the user can fix: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(readonly what: string, readonly todo: string) {
    super(`${what}: ${todo}`);
  }
}

export function fail(what: string, todo: string): never {
  throw new UsageError(what, todo);
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with errors turned into one clear line. */
export function parse<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const err = e as Error & { code?: string };
    const msg = err.message;
    const flag = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${command}: unknown flag ${flag ?? ''}`.trimEnd(), `see ${PROG} ${command} --help`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/argument missing/.test(msg)) fail(`${command}: ${flag} needs a value`, `see ${PROG} ${command} --help`);
      fail(`${command}: ${flag ?? 'a flag'} takes no value`, `see ${PROG} ${command} --help`);
    }
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(msg)?.[1];
      fail(`${command}: unexpected argument ${arg ? `'${arg}'` : ''}`.trimEnd(), `flags start with -- (see ${PROG} ${command} --help)`);
    }
    fail(`${command}: ${msg.split('\n')[0]}`, `see ${PROG} ${command} --help`);
  }
}

export function positiveInt(command: string, flag: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1 || Number(v) > max) fail(`${command}: --${flag} '${v}' is not a whole number from 1 to ${max}`, `give e.g. --${flag} ${dflt}`);
  return Number(v);
}

export function positiveNumber(command: string, flag: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) fail(`${command}: --${flag} '${v}' is not a number above 0 and at most ${max}`, `give e.g. --${flag} ${dflt}`);
  return n;
}

export function integer(command: string, flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) fail(`${command}: --${flag} '${v}' is not a whole number`, `give e.g. --${flag} ${dflt}`);
  return Number(v);
}
