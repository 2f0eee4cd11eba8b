/** Command-line helpers shared by the demo server and client. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line: main prints it with the usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** parseArgs with string options only, no positionals; its errors become UsageErrors. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

/** A whole number from `min` to 2^31, or a UsageError naming the flag. */
export function wholeNumber(flag: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || n < min || n > 2 ** 31) {
    throw new UsageError(`--${flag} must be a whole number >= ${min}, got "${text ?? ''}"`);
  }
  return n;
}
