/**
 * kubectl-mtls: the kubectl plugin of mtls-operator (`kubectl mtls <command>`).
 * `run` is the whole program over a CommandContext, so tests drive it in memory; `main` wires
 * the real one (files, clock, client-node) and is what bin/kubectl-mtls.js calls.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ClusterError } from '../cluster/port.ts';
import { CliError, COMMON_OPTIONS, render, type CommandContext, type CommandResult, type IO, type OutputFormat } from './args.ts';
import type { CliClient } from './client.ts';
import { FileWriteError, writeNewFiles } from './files.ts';
import { INIT_ROOT_HELP, initRootCommand } from './init-root.ts';
import { INSPECT_HELP, inspectCommand } from './inspect.ts';
import { ISSUE_HELP, issueCommand } from './issue.ts';
import { contextNamespace, KubeCliClient, loadKubeConfig } from './kube-client.ts';
import { RENEW_HELP, renewCommand } from './renew.ts';
import { ROTATE_ROOT_HELP, rotateRootCommand } from './rotate-root.ts';
import { STATUS_HELP, statusCommand } from './status.ts';

type Command = (args: string[], ctx: CommandContext) => Promise<CommandResult>;

const COMMANDS: Record<string, { run: Command; help: string; summary: string }> = {
  status: { run: statusCommand, help: STATUS_HELP, summary: 'conditions, certificate, Events and Secret health of an identity' },
  renew: { run: renewCommand, help: RENEW_HELP, summary: 're-issue now (annotation mtls.dev/renew-request), by name, -l or --all' },
  inspect: { run: inspectCommand, help: INSPECT_HELP, summary: 'decode and check a TLS Secret: chain, SANs, key, fingerprints' },
  'init-root': { run: initRootCommand, help: INIT_ROOT_HELP, summary: 'create the operator\'s CA Secret (generated or from PEM files)' },
  issue: { run: issueCommand, help: ISSUE_HELP, summary: 'issue an identity to files from a local CA (--local, no cluster)' },
  'rotate-root': { run: rotateRootCommand, help: ROTATE_ROOT_HELP, summary: 'start, abort or follow a staged root rotation' },
};

export const HELP = `kubectl mtls: manage mtls-operator identities

Usage: kubectl mtls <command> [flags]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`).join('\n')}

Flags for every command:
  -n, --namespace NS     namespace (default: the context's; mtls-system for init-root and rotate-root)
      --kubeconfig FILE  kubeconfig file (default: $KUBECONFIG, ~/.kube/config)
      --context NAME     kubeconfig context
  -o, --output FORMAT    json or yaml instead of text
  -h, --help             help (kubectl mtls <command> --help for a command's flags)

Exit status: 0 success, 1 failure (or a problem found), 2 bad command line.`;

/** The command name: the first positional, skipping the values of flags that take one. */
function commandOf(argv: string[]): { name?: string; rest: string[] } {
  const { tokens } = parseArgs({ args: argv, options: COMMON_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (!first) return { rest: argv };
  return { name: first.value, rest: [...argv.slice(0, first.index), ...argv.slice(first.index + 1)] };
}

function outputOf(argv: string[]): OutputFormat {
  const { values } = parseArgs({ args: argv, options: COMMON_OPTIONS, strict: false, allowPositionals: true });
  return values.output === 'json' || values.output === 'yaml' ? values.output : 'text';
}

/** One line for any failure: our errors as they are, API errors by their message, others by class. */
export function errorLine(err: unknown): string {
  if (err instanceof CliError || err instanceof ClusterError || err instanceof FileWriteError) return err.message;
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}

/** The program. Returns the exit code; writes only through ctx.io. */
export async function run(argv: string[], ctx: CommandContext): Promise<number> {
  try {
    const { name, rest } = commandOf(argv);
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? commandOf(rest).name : undefined;
      if (topic !== undefined && COMMANDS[topic]) {
        ctx.io.out(`${COMMANDS[topic].help}\n`);
        return 0;
      }
      const asked = rest.includes('-h') || rest.includes('--help') || name === 'help';
      (asked ? ctx.io.out : ctx.io.err)(`${HELP}\n`);
      return asked ? 0 : 2;
    }
    const command = COMMANDS[name];
    if (!command) throw new CliError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})`, 2);
    const result = await command.run(rest, ctx);
    const text = render(result, result.data === undefined ? 'text' : outputOf(rest));
    if (text) ctx.io.out(text);
    return result.exitCode ?? 0;
  } catch (err) {
    ctx.io.err(`error: ${errorLine(err)}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

/** The real context: stdout/stderr, the clock, files, and client-node from the kubeconfig flags. */
export function processContext(argv: string[], io: IO = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): CommandContext {
  let cached: { client: CliClient; namespace: string } | undefined;
  return {
    io,
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    cluster: () => {
      if (!cached) {
        const { values } = parseArgs({ args: argv, options: COMMON_OPTIONS, strict: false, allowPositionals: true });
        const kc = loadKubeConfig({
          ...(typeof values.kubeconfig === 'string' ? { kubeconfig: values.kubeconfig } : {}),
          ...(typeof values.context === 'string' ? { context: values.context } : {}),
        });
        cached = { client: new KubeCliClient(kc), namespace: contextNamespace(kc) };
      }
      return cached;
    },
    readFile: (path) => readFileSync(path, 'utf8'),
    writeFiles: writeNewFiles,
  };
}

/** Entry point of bin/kubectl-mtls.js. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  return run(argv, processContext(argv));
}
