/**
 * Process-level high-availability tests: several operator processes (src/main.ts), each talking to
 * the API server through its own recording proxy, so every request is attributed to the process
 * that sent it and timed on this process's monotonic clock as it arrives.
 *
 * The proxy speaks plain HTTP to the operator (the operator's kubeconfig points at it with
 * insecure-skip-tls-verify and a dummy token) and forwards to the API server with the upstream's
 * own credentials, streaming responses (watches included). A shared Stall holds every request and
 * every response chunk while it is on: what a client sees of a frozen API server (connections
 * accepted, nothing answered). Against a real control plane, freeze the apiserver process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { eventually as waitEventually } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Upstream {
  /** http://… or https://… */
  url: string;
  /** Put the upstream's credentials (token header, client certificate, CA) on a request. */
  authorize(opts: https.RequestOptions): Promise<void>;
}

export interface ProxiedRequest {
  /** performance.now() when the request arrived at the proxy. */
  at: number;
  method: string;
  path: string;
  /** The upstream's status (0 until it answers, or if it never does). */
  status: number;
  /** performance.now() when the upstream answered (0: not yet, or never). */
  answeredAt: number;
}

/** Holds requests and response chunks while on. */
export class Stall {
  private until?: Promise<void>;
  private release?: () => void;

  get on(): boolean {
    return this.until !== undefined;
  }

  begin(): void {
    if (this.until) return;
    this.until = new Promise((resolve) => (this.release = resolve));
  }

  end(): void {
    const release = this.release;
    this.until = undefined;
    this.release = undefined;
    release?.();
  }

  wait(): Promise<void> {
    return this.until ?? Promise.resolve();
  }
}

export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  url = '';
  private readonly server: http.Server;
  private readonly upstream: Upstream;
  private readonly stall: Stall;

  constructor(upstream: Upstream, stall: Stall) {
    this.upstream = upstream;
    this.stall = stall;
    this.server = http.createServer((req, res) => void this.forward(req, res).catch(() => res.destroy()));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Writes (not GET) that arrived after `since`, other than Events; `leases` too unless excluded. */
  writesSince(since: number, opts: { leases?: boolean } = {}): ProxiedRequest[] {
    return this.requests.filter((r) => r.at > since && r.method !== 'GET' && !/\/events(\/|$)/.test(r.path) &&
      (opts.leases !== false || !/\/leases(\/|$)/.test(r.path)));
  }

  /** Successful writes of Secrets in namespace `ns` (issuance), in arrival order. */
  secretWrites(ns: string): ProxiedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET' && r.path.startsWith(`/api/v1/namespaces/${ns}/secrets`) && r.status >= 200 && r.status < 300);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec: ProxiedRequest = { at: performance.now(), method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: 0, answeredAt: 0 };
    this.requests.push(rec);
    const body: Buffer[] = [];
    for await (const c of req) body.push(c as Buffer);
    await this.stall.wait();
    const target = new URL(req.url ?? '/', this.upstream.url);
    const headers = { ...req.headers };
    delete headers.authorization;
    delete headers.host;
    const opts: https.RequestOptions = { method: req.method, hostname: target.hostname, port: target.port, path: target.pathname + target.search, headers };
    await this.upstream.authorize(opts);
    const send = target.protocol === 'https:' ? https.request : http.request;
    await new Promise<void>((resolve, reject) => {
      const up = send(opts, (answer) => {
        rec.status = answer.statusCode ?? 0;
        rec.answeredAt = performance.now();
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          if (this.stall.on) {
            answer.pause();
            void this.stall.wait().then(() => {
              res.write(chunk);
              answer.resume();
            });
          } else {
            res.write(chunk);
          }
        });
        answer.on('end', () => void this.stall.wait().then(() => {
          res.end();
          resolve();
        }));
        answer.on('error', reject);
      });
      up.on('error', reject);
      res.on('close', () => up.destroy());
      up.end(Buffer.concat(body));
    });
  }
}

type LogLine = { level?: string; message?: string; timestamp?: string; [k: string]: unknown };

/** One operator process behind its own proxy; its JSON log lines are kept with their arrival time. */
export class OperatorProcess {
  readonly child: ChildProcess;
  readonly proxy: RecordingProxy;
  readonly lines: Array<LogLine & { at: number }> = [];
  text = '';
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(dir: string, name: string, proxy: RecordingProxy, args: string[]) {
    this.proxy = proxy;
    const kubeconfig = join(dir, `kubeconfig-${name}`);
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config',
      `clusters:\n- name: proxy\n  cluster:\n    server: ${proxy.url}\n    insecure-skip-tls-verify: true`,
      'users:\n- name: op\n  user:\n    token: via-proxy',
      'contexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: op',
      'current-context: proxy', '',
    ].join('\n'));
    this.child = spawn(process.execPath, ['src/main.ts', '--metrics-port=0', '--metrics-address=127.0.0.1', '--metrics-auth=none', ...args], {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: kubeconfig, MTLS_LOG_LEVEL: 'info', POD_NAME: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.text += `${line}\n`;
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { message: line };
        }
        this.lines.push({ ...parsed, at: performance.now() });
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve((this.exitCode = code))));
  }

  get pid(): number {
    return this.child.pid!;
  }

  logged(message: string, after = 0): (LogLine & { at: number }) | undefined {
    return this.lines.find((l) => l.message === message && l.at > after);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  kill(): void {
    this.signal('SIGCONT');
    this.signal('SIGKILL');
  }
}

export { sleep, within } from './wait.ts';

/** Poll until `fn` returns something other than undefined/false (wait.ts's, with this file's tighter defaults). */
export const eventually = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000, intervalMs = 25): Promise<T> =>
  waitEventually(what, fn, ms, intervalMs);
