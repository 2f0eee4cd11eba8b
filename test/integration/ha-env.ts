/** Several operator processes against one fake apiserver, each behind a recording proxy (test/support/ha.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from './fake-apiserver.ts';
import { eventually, OperatorProcess, RecordingProxy, Stall, within } from '../support/ha.ts';

const IDENTITIES = 'mutualtlsidentities';

export interface HaEnv {
  api: FakeApiServer;
  dir: string;
  stall: Stall;
  ops: OperatorProcess[];
}

export async function startEnv(): Promise<HaEnv> {
  return { api: await FakeApiServer.start(), dir: mkdtempSync(join(tmpdir(), 'mtls-ha-')), stall: new Stall(), ops: [] };
}

export async function stopEnv(env: HaEnv | undefined): Promise<void> {
  if (!env) return;
  env.stall.end();
  for (const o of env.ops) o.kill();
  await Promise.all(env.ops.map((o) => within(o.exited, 5_000, 'killed operator').catch(() => undefined)));
  await Promise.all(env.ops.map((o) => o.proxy.close()));
  await env.api.close();
  rmSync(env.dir, { recursive: true, force: true });
}

/** n processes a, b, c…: a is started first and takes the Lease; the others stand by. */
export async function startOperators(env: HaEnv, n: number, args: string[]): Promise<OperatorProcess[]> {
  const upstream = { url: env.api.url, authorize: async (o: RequestOptions) => {
    o.headers = { ...(o.headers as Record<string, string>), authorization: `Bearer ${env.api.token}` };
  } };
  const ops: OperatorProcess[] = [];
  for (const name of ['a', 'b', 'c'].slice(0, n)) {
    const proxy = await new RecordingProxy(upstream, env.stall).listen();
    const op = new OperatorProcess(env.dir, name, proxy, args);
    env.ops.push(op);
    ops.push(op);
    if (name === 'a') await eventually('a to start its controller', () => op.logged('controller started'), 60_000);
    else await eventually(`${name} to stand by`, () => op.logged('leader election: current leader'), 60_000);
  }
  return ops;
}

export function holder(api: FakeApiServer): string {
  return String((api.get('leases', 'mtls-system', 'mtls-operator')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '');
}

export function putIdentities(api: FakeApiServer, ns: string, prefix: string, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const name of names) api.putCustom(IDENTITIES, ns, name, { secretName: `${name}-mtls`, serviceAccountName: name });
  return names;
}

export const issued = (api: FakeApiServer, ns: string, names: string[]) => names.filter((n) => api.get('secrets', ns, `${n}-mtls`)).length;

export function dumpOnFailure(env: HaEnv | undefined, test: Mocha.Test | undefined): void {
  if (test?.state !== 'failed' || !env) return;
  for (const o of env.ops) process.stderr.write(`--- operator ${o.pid} log (last 40 lines) ---\n${o.text.split('\n').slice(-40).join('\n')}\n`);
}

