/**
 * The high-availability process tests, written once over a backend: the fake apiserver
 * (test/integration/ha*.test.ts) or a real kube-apiserver (test/real/ha*.test.ts). Each operator
 * process talks through its own recording proxy (./ha.ts), so every write is attributed to the
 * process that sent it and timed as it arrived.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, OperatorProcess, RecordingProxy, sleep, Stall, within, type Upstream } from './ha.ts';

export interface HaBackend {
  upstream: Upstream;
  /** Holds the Lease and the CA Secret; fresh per test. */
  operatorNamespace: string;
  /** Where the test's identities live (the only namespace the operators watch). */
  namespace: string;
  putIdentities(prefix: string, count: number): Promise<string[]>;
  /** How many of these identities have their Secret. */
  issued(names: string[]): Promise<number>;
  lease(): Promise<{ holder: string; transitions: number }>;
  /** Freeze / thaw the API server (fake: the proxies hold everything; real: SIGSTOP / SIGCONT). */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

interface Env {
  backend: HaBackend;
  dir: string;
  stall: Stall;
  ops: OperatorProcess[];
}

/** For the fake backend: its freeze is this Stall, shared by every proxy. */
export const proxyStall = new Stall();

const POLL = 100;

async function startOperators(env: Env, n: number, args: string[]): Promise<OperatorProcess[]> {
  const ops: OperatorProcess[] = [];
  const all = [...args, `--operator-namespace=${env.backend.operatorNamespace}`, `--watch-namespaces=${env.backend.namespace}`];
  for (const name of ['a', 'b', 'c'].slice(0, n)) {
    const proxy = await new RecordingProxy(env.backend.upstream, env.stall).listen();
    const op = new OperatorProcess(env.dir, name, proxy, all);
    env.ops.push(op);
    ops.push(op);
    if (name === 'a') await eventually('a to start its controller', () => op.logged('controller started'), 90_000);
    else await eventually(`${name} to stand by`, () => op.logged('leader election: current leader'), 90_000);
  }
  return ops;
}

function harness(make: () => Promise<HaBackend>) {
  const state: { env?: Env } = {};
  beforeEach(async () => {
    state.env = { backend: await make(), dir: mkdtempSync(join(tmpdir(), 'mtls-ha-')), stall: proxyStall, ops: [] };
  });
  afterEach(async function () {
    const env = state.env;
    state.env = undefined;
    if (!env) return;
    env.backend.thaw();
    if (this.currentTest?.state === 'failed') {
      for (const o of env.ops) process.stderr.write(`--- operator ${o.pid} log (last 40 lines) ---\n${o.text.split('\n').slice(-40).join('\n')}\n`);
    }
    for (const o of env.ops) o.kill();
    await Promise.all(env.ops.map((o) => within(o.exited, 5_000, 'killed operator').catch(() => undefined)));
    await Promise.all(env.ops.map((o) => o.proxy.close()));
    await env.backend.close();
    rmSync(env.dir, { recursive: true, force: true });
  });
  return state;
}

const secretWrites = (o: OperatorProcess, ns: string) => o.proxy.secretWrites(ns);

/** Short timings (6 s lease, 4 s deadline, 1 s retry): frozen leader, SIGKILL, graceful stop. */
export function describeHa(title: string, make: () => Promise<HaBackend>): void {
  const LEASE_S = 6;
  const RETRY_S = 1;
  const SHORT = ['--leader-elect=true', `--leader-election-lease-duration=${LEASE_S}s`, '--leader-election-renew-deadline=4s', `--leader-election-retry-period=${RETRY_S}s`, '--shutdown-grace=5s'];
  const measured: string[] = [];

  describe(title, function () {
    this.timeout(150_000);
    const state = harness(make);
    after(() => {
      if (measured.length) process.stdout.write(`HA figures (${title}):\n${measured.map((m) => `  ${m}\n`).join('')}`);
    });

    for (const n of [2, 3]) {
      it(`${n} processes: the leader frozen (SIGSTOP) mid-issuance past its lease, then resumed, writes nothing after resuming`, async () => {
        const env = state.env!;
        const b = env.backend;
        const [a, ...standbys] = await startOperators(env, n, SHORT);
        assert.match((await b.lease()).holder, /^a_/);
        const names = await b.putIdentities('id', 60);
        await eventually('a to be mid-issuance', () => secretWrites(a!, b.namespace).length >= 3, 60_000, POLL);
        a!.signal('SIGSTOP');
        const stopped = performance.now();
        const issuedBefore = secretWrites(a!, b.namespace).length;
        const next = await eventually('a standby to issue', () => standbys.find((s) => secretWrites(s, b.namespace).length > 0), 30_000, POLL);
        const takeover = secretWrites(next, b.namespace)[0]!.at - stopped;
        await sleep(Math.max(0, (LEASE_S + 4) * 1_000 - (performance.now() - stopped)));
        a!.signal('SIGCONT');
        const resumed = performance.now();
        assert.equal(await within(a!.exited, 10_000, 'a to exit after resuming'), 1, 'leadership lost: exit 1');
        assert.deepEqual(a!.proxy.writesSince(resumed).map((r) => `${r.method} ${r.path} ${r.status}`), [], 'a wrote nothing after resuming, not even the Lease');
        assert.ok(a!.logged('leader election: leadership lost', resumed), 'a logged the loss');
        await eventually('every identity issued by the new leader', async () => (await b.issued(names)) === names.length, 90_000, 250);
        assert.match((await b.lease()).holder, /^[bc]_/);
        assert.equal(standbys.filter((s) => s.logged('leader election: became leader')).length, 1, 'exactly one standby took over');
        measured.push(`${n} processes, leader frozen mid-issuance (${issuedBefore}/${names.length} written): a standby wrote its first Secret ${(takeover / 1000).toFixed(1)} s after the freeze (lease ${LEASE_S} s, retry ${RETRY_S} s)`);
      });
    }

    it('3 processes: the leader SIGKILLed, a standby issues a new identity within the lease duration (+ one retry)', async () => {
      const env = state.env!;
      const b = env.backend;
      const [a, ...standbys] = await startOperators(env, 3, SHORT);
      const warm = await b.putIdentities('warm', 1);
      await eventually('a to issue', async () => (await b.issued(warm)) === 1, 30_000, POLL);
      a!.signal('SIGKILL');
      const killed = performance.now();
      await b.putIdentities('after-kill', 1);
      const next = await eventually('a standby to issue', () => standbys.find((s) => secretWrites(s, b.namespace).length > 0), 30_000, POLL);
      const took = secretWrites(next, b.namespace)[0]!.at - killed;
      const leaseAt = next.lines.find((l) => l.message === 'leader election: became leader')!.at - killed;
      measured.push(`3 processes, leader SIGKILLed: new leader after ${(leaseAt / 1000).toFixed(1)} s, first Secret written ${(took / 1000).toFixed(1)} s after the kill (lease ${LEASE_S} s, retry ${RETRY_S} s)`);
      assert.ok(took <= (LEASE_S + 1.2 * RETRY_S + 2) * 1_000, `issued ${took} ms after the kill`);
      assert.equal(standbys.filter((s) => s.logged('leader election: became leader')).length, 1);
    });

    it('2 processes: a graceful stop releases the Lease; the standby takes over on its next retry', async () => {
      const env = state.env!;
      const b = env.backend;
      const [a, standby] = await startOperators(env, 2, SHORT);
      a!.signal('SIGTERM');
      const termed = performance.now();
      assert.equal(await within(a!.exited, 10_000, 'a to exit'), 0);
      const exitedAfter = performance.now() - termed;
      const release = a!.proxy.requests.find((r) => r.at > termed && r.method === 'PUT' && r.path.includes('/leases/'));
      assert.ok(release && release.status === 200, 'a released the Lease');
      const led = await eventually('the standby to lead', () => standby!.logged('leader election: became leader'), 10_000, POLL);
      const names = await b.putIdentities('after-stop', 1);
      await eventually('the standby to issue', async () => (await b.issued(names)) === 1, 30_000, POLL);
      const takeover = led.at - release.at;
      measured.push(`2 processes, graceful stop: SIGTERM to exit ${(exitedAfter / 1000).toFixed(1)} s; the standby leads ${(takeover / 1000).toFixed(1)} s after the release (retry ${RETRY_S} s)`);
      assert.ok(takeover <= 1.2 * RETRY_S * 1_000 + 1_000, `took over ${takeover} ms after the release`);
    });
  });
}

/** Default timings (60 s lease, 40 s deadline, 2 s retry): the API server frozen 30 s, then 45 s. */
export function describeHaStall(title: string, make: () => Promise<HaBackend>): void {
  const DEFAULTS = ['--leader-elect=true', '--shutdown-grace=5s'];
  const figures: string[] = [];

  describe(title, function () {
    this.timeout(200_000);
    const state = harness(make);
    after(() => {
      if (figures.length) process.stdout.write(`HA stall figures (${title}):\n${figures.map((m) => `  ${m}\n`).join('')}`);
    });

    it('a 30 s freeze: no process exits, the leader keeps the Lease and issues what arrived meanwhile', async () => {
      const env = state.env!;
      const b = env.backend;
      const [a, standby] = await startOperators(env, 2, DEFAULTS);
      const before = await b.lease();
      b.freeze();
      const began = performance.now();
      try {
        await sleep(30_000);
      } finally {
        b.thaw();
      }
      const ended = performance.now();
      const names = await b.putIdentities('after', 3);
      await eventually('the leader to issue after the freeze', async () => (await b.issued(names)) === names.length, 30_000, 250);
      const caughtUp = performance.now() - ended;
      await sleep(3_000);
      assert.equal(a!.exitCode, undefined, 'a still running');
      assert.equal(standby!.exitCode, undefined, 'the standby still running');
      const after = await b.lease();
      assert.match(after.holder, /^a_/);
      assert.equal(after.transitions, before.transitions);
      assert.equal(a!.logged('leader election: leadership lost'), undefined);
      assert.equal(secretWrites(standby!, b.namespace).length, 0, 'the standby wrote nothing');
      await eventually('the leader to have issued them', () => secretWrites(a!, b.namespace).length >= names.length, 5_000, POLL);
      figures.push(`30 s freeze: no restart, no change of leader; identities created after the thaw were issued ${(caughtUp / 1000).toFixed(1)} s after it (freeze began at +${(began / 1000).toFixed(0)} s)`);
    });

    it('a 45 s freeze: the leader steps down at its renew deadline (exit 1), the standby takes over within one lease of the thaw', async () => {
      const env = state.env!;
      const b = env.backend;
      const [a, standby] = await startOperators(env, 2, DEFAULTS);
      // Its last successful Lease write: a renewal (PUT), or the create that made it leader when the freeze came
      // before its first renewal (a loaded machine).
      // (A create is a POST to the collection, .../leases, a renewal a PUT to .../leases/<name>.)
      const lastRenewal = () => a!.proxy.requests.filter((r) => /\/leases(\/|$)/.test(r.path) &&
        ((r.method === 'PUT' && r.status === 200) || (r.method === 'POST' && r.status === 201))).at(-1)!.at;
      b.freeze();
      const began = performance.now();
      let code: number | null;
      let steppedDown: number;
      try {
        code = await within(a!.exited, 60_000, 'a to step down');
        steppedDown = performance.now();
        await sleep(Math.max(0, 45_000 - (performance.now() - began)));
      } finally {
        b.thaw();
      }
      const ended = performance.now();
      assert.equal(code, 1);
      assert.ok(a!.logged('leader election: leadership lost'));
      const renewed = lastRenewal();
      assert.ok(steppedDown - renewed <= 40_000 + 2_000, `stepped down ${steppedDown - renewed} ms after its last renewal`);
      const names = await b.putIdentities('after', 3);
      await eventually('the standby to issue', async () => (await b.issued(names)) === names.length, 90_000, 250);
      // The proxy records the answer a moment after the server has stored the Secret.
      await eventually('the standby to have issued them', () => secretWrites(standby!, b.namespace).length >= names.length, 5_000, POLL);
      const resumed = performance.now();
      assert.match((await b.lease()).holder, /^b_/);
      assert.deepEqual(a!.proxy.writesSince(steppedDown).map((r) => `${r.method} ${r.path}`), [], 'a sent nothing once it had stepped down');
      // What a sent while it still led sat in the frozen server and may be served when it resumes,
      // before the standby can take the Lease (it needs the server to write it).
      const late = a!.proxy.requests.filter((r) => r.method !== 'GET' && r.answeredAt > ended);
      const took = standby!.proxy.requests.find((r) => r.method === 'PUT' && r.path.includes('/leases/') && r.status === 200)!.answeredAt;
      assert.ok(late.every((r) => r.answeredAt < took), 'every late write of a landed before the standby held the Lease');
      // A renewal the old leader sent during the freeze (before its deadline) can be served on the
      // thaw and restart the standby's wait: issuance resumes within one lease of the thaw.
      assert.ok(resumed - ended <= 60_000 + 2.4 * 2_000 + 10_000, `issuance resumed ${resumed - ended} ms after the thaw`);
      figures.push(`45 s freeze: the leader stepped down ${((steppedDown - renewed) / 1000).toFixed(1)} s after its last renewal and exited 1; the standby took the Lease ${((took - ended) / 1000).toFixed(1)} s after the thaw (${((took - began) / 1000).toFixed(1)} s after the freeze began); issuance complete ${((resumed - began) / 1000).toFixed(1)} s after the freeze began; ${late.length} request(s) the old leader sent before its deadline were answered on the thaw`);
    });
  });
}
