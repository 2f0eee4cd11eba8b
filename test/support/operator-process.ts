/**
 * One operator process (src/main.ts on the running Node 24, or dist/main.js when asked) against a kubeconfig, its
 * stdout and stderr lines kept (JSON lines parsed), killed at test-process exit if a test forgot it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ControlPlane } from './controlplane.ts';
import { eventually, within } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type LogLine = { level?: string; message?: string; [k: string]: unknown };

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface OperatorOptions {
  /** Extra environment (KUBECONFIG is set from the argument). */
  env?: NodeJS.ProcessEnv;
  /** Run this entry point instead of src/main.ts (e.g. dist/main.js), with these node flags. */
  entry?: string;
  nodeArgs?: string[];
}

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  text = '';
  readonly exited: Promise<number | null>;

  constructor(kubeconfig: string, args: string[], opts: OperatorOptions = {}) {
    this.child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry ?? 'src/main.ts', '--metrics-port=0', '--metrics-address=127.0.0.1', '--metrics-auth=none', ...args], {
      cwd: ROOT,
      env: { ...process.env, MTLS_LOG_LEVEL: 'debug', ...opts.env, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.text += `${line}\n`;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ message: line });
        }
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      live.delete(this.child);
      resolve(code);
    }));
  }

  logged(message: string): LogLine | undefined {
    return this.lines.find((l) => l.message === message);
  }

  count(message: string, reason?: string): number {
    return this.lines.filter((l) => l.message === message && (!reason || l.reason === reason)).length;
  }

  /** The last `n` lines, for a failure report. */
  tail(n = 60): string {
    return this.text.split('\n').slice(-n).join('\n');
  }

  /** SIGTERM and the exit code, within `ms`. */
  async terminate(ms = 5_000): Promise<number | null> {
    this.child.kill('SIGTERM');
    return within(this.exited, ms, 'the operator to exit after SIGTERM');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * deploy/ applied (without the name-policy binding), a new namespace, and the operator process running as its own
 * ServiceAccount (deploy/'s RBAC) watching only that namespace, started: the setup of test/real files that drive
 * one operator. `beforeStart` runs once the namespace exists, before the operator starts.
 */
export async function operatorForNewNamespace(
  cp: ControlPlane, prefix: string, args: string[], beforeStart?: (namespace: string) => Promise<unknown>,
): Promise<{ ns: string; op: OperatorProcess }> {
  const res = await cp.kubectl(['apply', '-k', `${ROOT}deploy/`]);
  if (res.code !== 0) throw new Error(`kubectl apply -k deploy/: ${res.stderr}`);
  await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
  const ns = await cp.newNamespace(prefix);
  await beforeStart?.(ns);
  const kubeconfig = await cp.serviceAccountKubeconfig('mtls-system', 'mtls-operator');
  const op = new OperatorProcess(kubeconfig, [`--watch-namespaces=${ns}`, '--leader-elect=false', ...args]);
  await eventually('controller started', () => op.logged('controller started'), 120_000, 200);
  return { ns, op };
}
