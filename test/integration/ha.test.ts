/**
 * High availability, process level: two and three operator processes (src/main.ts) with leader
 * election against the fake apiserver, each behind its own recording proxy (test/support/ha.ts),
 * so every write is attributed to the process that sent it. Short timings (6 s lease, 4 s renew
 * deadline, 1 s retry) keep the file under two minutes; the stall tests with the default timings
 * are in ha-stall.test.ts.
 */
import assert from 'node:assert/strict';
import { eventually, sleep, within } from '../support/ha.ts';
import { dumpOnFailure, holder, issued, putIdentities, startEnv, startOperators, stopEnv, type HaEnv } from './ha-env.ts';

const LEASE_S = 6;
const RETRY_S = 1;
const SHORT = ['--leader-elect=true', `--leader-election-lease-duration=${LEASE_S}s`, '--leader-election-renew-deadline=4s', `--leader-election-retry-period=${RETRY_S}s`, '--shutdown-grace=5s'];
/** Figures for the README, printed at the end of the file. */
const measured: string[] = [];

describe('high availability: operator processes against a fake apiserver', function () {
  this.timeout(120_000);
  let env: HaEnv | undefined;

  beforeEach(async () => {
    env = await startEnv();
  });
  afterEach(async function () {
    dumpOnFailure(env, this.currentTest);
    await stopEnv(env);
    env = undefined;
  });
  after(() => {
    if (measured.length) process.stdout.write(`HA figures (fake apiserver):\n${measured.map((m) => `  ${m}\n`).join('')}`);
  });

  for (const n of [2, 3]) {
    it(`${n} processes: the leader frozen (SIGSTOP) mid-issuance past its lease, then resumed, writes nothing after resuming`, async () => {
      const { api } = env!;
      const [a, ...standbys] = await startOperators(env!, n, SHORT);
      assert.match(holder(api), /^a_/);
      const names = putIdentities(api, 'ha', 'id', 60);
      await eventually('a to be mid-issuance', () => a!.proxy.secretWrites('ha').length >= 3);
      a!.signal('SIGSTOP');
      const stopped = performance.now();
      const issuedBefore = issued(api, 'ha', names);
      // Frozen well past its lease: a standby takes over and issues meanwhile.
      const next = await eventually('a standby to issue', () => standbys.find((s) => s.proxy.secretWrites('ha').some((r) => r.at > stopped)), 30_000);
      const takeover = next.proxy.secretWrites('ha').find((r) => r.at > stopped)!.at - stopped;
      await sleep(Math.max(0, (LEASE_S + 4) * 1_000 - (performance.now() - stopped)));
      a!.signal('SIGCONT');
      const resumed = performance.now();
      assert.equal(await within(a!.exited, 10_000, 'a to exit after resuming'), 1, 'leadership lost: exit 1');
      assert.deepEqual(a!.proxy.writesSince(resumed).map((r) => `${r.method} ${r.path} ${r.status}`), [], 'a wrote nothing after resuming, not even the Lease');
      assert.ok(a!.logged('leader election: leadership lost', resumed), 'a logged the loss');
      await eventually('every identity issued by the new leader', () => issued(api, 'ha', names) === names.length, 60_000);
      assert.match(holder(api), /^[bc]_/);
      assert.equal(standbys.filter((s) => s.logged('leader election: became leader')).length, 1, 'exactly one standby took over');
      measured.push(`${n} processes, leader frozen mid-issuance (${issuedBefore}/${names.length} issued): a standby issued ${(takeover / 1000).toFixed(1)} s after the freeze (lease ${LEASE_S} s, retry ${RETRY_S} s)`);
    });
  }

  it('3 processes: the leader SIGKILLed, a standby issues a new identity within the lease duration (+ one retry)', async () => {
    const { api } = env!;
    const [a, ...standbys] = await startOperators(env!, 3, SHORT);
    putIdentities(api, 'ha', 'warm', 1);
    await eventually('a to issue', () => issued(api, 'ha', ['warm-0']) === 1);
    a!.signal('SIGKILL');
    const killed = performance.now();
    putIdentities(api, 'ha', 'after-kill', 1);
    const next = await eventually('a standby to issue', () => standbys.find((s) => s.proxy.secretWrites('ha').length > 0), 30_000);
    const took = next.proxy.secretWrites('ha')[0]!.at - killed;
    const leaseAt = next.lines.find((l) => l.message === 'leader election: became leader')!.at - killed;
    measured.push(`3 processes, leader SIGKILLed: new leader after ${(leaseAt / 1000).toFixed(1)} s, first Secret written ${(took / 1000).toFixed(1)} s after the kill (lease ${LEASE_S} s, retry ${RETRY_S} s)`);
    assert.ok(took <= (LEASE_S + 1.2 * RETRY_S + 2) * 1_000, `issued ${took} ms after the kill`);
    assert.equal(standbys.filter((s) => s.logged('leader election: became leader')).length, 1);
  });

  it('2 processes: a graceful stop releases the Lease; the standby takes over on its next retry', async () => {
    const { api } = env!;
    const [a, b] = await startOperators(env!, 2, SHORT);
    a!.signal('SIGTERM');
    const termed = performance.now();
    assert.equal(await within(a!.exited, 10_000, 'a to exit'), 0);
    const release = a!.proxy.requests.find((r) => r.at > termed && r.method === 'PUT' && r.path.includes('/leases/'));
    assert.ok(release && release.status === 200, 'a released the Lease');
    const led = await eventually('b to lead', () => b!.logged('leader election: became leader'), 10_000);
    putIdentities(api, 'ha', 'after-stop', 1);
    await eventually('b to issue', () => issued(api, 'ha', ['after-stop-0']) === 1, 20_000);
    const takeover = led.at - release.at;
    measured.push(`2 processes, graceful stop: SIGTERM to exit ${((a!.lines.at(-1)!.at - termed) / 1000).toFixed(1)} s; standby leads ${(takeover / 1000).toFixed(1)} s after the release (retry ${RETRY_S} s)`);
    assert.ok(takeover <= 1.2 * RETRY_S * 1_000 + 1_000, `took over ${takeover} ms after the release`);
  });
});
