/** Argument parsing, output (-o json|yaml) and errors shared by every kubectl-mtls command. */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { stringify } from 'yaml';
import type { CliClient } from './client.ts';
import type { FileToWrite } from './files.ts';

/** An error for the user: one line on stderr, exit code 1 (2: the command line itself is wrong). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): CliError => new CliError(`${message} (see kubectl mtls --help)`, 2);

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

export type OutputFormat = 'text' | 'json' | 'yaml';

/** What a command hands back: data for -o json|yaml, text for people. */
export interface CommandResult {
  data: unknown;
  text: string;
  exitCode?: number;
}

export interface IO {
  out(text: string): void;
  err(text: string): void;
}

/** Everything a command may touch; tests replace each piece. */
export interface CommandContext {
  io: IO;
  now(): Date;
  sleep(ms: number): Promise<void>;
  /** The API client and the default namespace; created on first use (local commands never call it). */
  cluster(): { client: CliClient; namespace: string };
  readFile(path: string): string;
  /** Creates dir when absent and every file in it exclusively, refusing existing ones unless overwrite (files.ts). */
  writeFiles(dir: string, files: FileToWrite[], overwrite: boolean): void;
}

/** parseArgs, strict, with the common flags; a bad flag is a usage error naming it. */
export function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  const config = { args, options: { ...COMMON_OPTIONS, ...options } as typeof COMMON_OPTIONS & O, strict: true, allowPositionals: true } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw usageError((err as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, ''));
  }
  const o = (parsed.values as { output?: string }).output;
  if (o !== undefined && o !== 'json' && o !== 'yaml') throw usageError(`-o ${o}: use json or yaml`);
  return { values: parsed.values, positionals: parsed.positionals, output: (o ?? 'text') as OutputFormat };
}

/** The result as the user asked for it. */
export function render(result: CommandResult, output: OutputFormat): string {
  if (output === 'json') return `${JSON.stringify(result.data, null, 2)}\n`;
  if (output === 'yaml') return stringify(result.data);
  return result.text.endsWith('\n') || result.text === '' ? result.text : `${result.text}\n`;
}

/** A two-column block: "  Key:   value". */
export function fields(rows: [string, string | number | undefined][], indent = '  '): string {
  const shown = rows.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)} ${v}`).join('\n');
}

/** A table with a header row, columns padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** "3h12m" style, for how far away a time is. */
export function humanDuration(ms: number): string {
  const abs = Math.abs(ms);
  const d = Math.floor(abs / 86_400_000);
  const h = Math.floor((abs % 86_400_000) / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const text = d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m` : `${Math.floor(abs / 1000)}s`;
  return ms <= 0 ? `${text} ago` : `in ${text}`;
}

/** The single positional a command takes, or a usage error. */
export function onePositional(positionals: string[], what: string): string {
  if (positionals.length === 0) throw usageError(`missing ${what}`);
  if (positionals.length > 1) throw usageError(`unexpected argument "${positionals[1]}"`);
  return positionals[0]!;
}
