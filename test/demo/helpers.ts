/** The demo programs as child processes (node src/demo/main.ts), and identities to give them. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { IssuedCertificate, SigningCA } from '../../src/pki/index.ts';
import { issueLeaf } from '../../src/pki/index.ts';

export const MAIN = fileURLToPath(new URL('../../src/demo/main.ts', import.meta.url));
export const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';
export const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';

export interface Line {
  time: string;
  level: string;
  component: string;
  msg: string;
  [field: string]: any;
}

/** Every stdout line of the demo programs must be one JSON object. */
export function parseLines(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
}

/** Everything the programs printed in this test file, to check for key material at the end. */
export const allOutput: string[] = [];

/** Issues a leaf for `spiffeId` (valid now, 1 hour). */
export function issue(ca: SigningCA, spiffeId: string, names: { dnsNames?: string[]; ipAddresses?: string[] } = {}): Promise<IssuedCertificate> {
  return issueLeaf(ca, {
    dnsNames: names.dnsNames ?? [],
    ipAddresses: names.ipAddresses ?? [],
    uris: [spiffeId],
    durationMs: 3_600_000,
    usages: ['digital signature', 'server auth', 'client auth'],
    key: { algorithm: 'ECDSA', size: 256 },
    encoding: 'PKCS8',
    now: new Date(),
  });
}

/** Writes tls.crt, tls.key, ca.crt as an mtls-operator Secret holds them (files only: ca.crt alone when `id` is undefined). */
export async function writeIdentity(dir: string, id: IssuedCertificate | undefined, caPem: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (id) {
    await writeFile(join(dir, 'tls.crt'), id.certChainPem);
    await writeFile(join(dir, 'tls.key'), id.keyPem, { mode: 0o600 });
  }
  await writeFile(join(dir, 'ca.crt'), caPem);
  return dir;
}

function childEnv(dir: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MTLS_DIR: dir, ...extra };
  for (const k of ['MTLS_EXPECT_SERVER_ID', 'MTLS_SERVER_HOST', 'MTLS_SERVER_PORT', 'PORT', 'MTLS_RELOAD_INTERVAL_MS']) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Line[];
}

/** Runs `main.ts <args>` to its end. */
export function run(args: string[], dir: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: childEnv(dir, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      allOutput.push(stdout, stderr);
      try {
        resolve({ code, stdout, stderr, lines: parseLines(stdout) });
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** The client against 127.0.0.1:<port>. */
export function runClient(dir: string, port: number, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(['client', '--host', '127.0.0.1', '--port', String(port), ...args], dir, env);
}

/** A demo server child process on 127.0.0.1 and a free port. */
export class DemoServer {
  readonly lines: Line[] = [];
  port = 0;
  pid = 0;
  private stdout = '';
  private stderr = '';
  private exited: Promise<number | null>;
  private readonly child: ChildProcessByStdio<null, Readable, Readable>;

  private constructor(dir: string, reloadIntervalMs: number) {
    this.child = spawn(process.execPath, [MAIN, 'server', '--listen', '127.0.0.1', '--port', '0', '--reload-interval', String(reloadIntervalMs)], {
      env: childEnv(dir, {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid ?? 0;
    let partial = '';
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      partial += d;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) if (l.trim()) this.lines.push(JSON.parse(l) as Line);
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => {
      allOutput.push(this.stdout, this.stderr);
      resolve(code);
    }));
  }

  static async start(dir: string, reloadIntervalMs = 60_000): Promise<DemoServer> {
    const server = new DemoServer(dir, reloadIntervalMs);
    const listening = await server.waitFor((l) => l.msg === 'listening', 15_000);
    server.port = listening.port as number;
    return server;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first line (already logged or to come) that satisfies `pred`. */
  async waitFor(pred: (l: Line) => boolean, timeoutMs = 10_000): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (!this.running) throw new Error(`demo server exited; stdout: ${this.stdout} stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no such server line within ${timeoutMs} ms; lines:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }
}
