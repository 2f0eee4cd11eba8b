/**
 * High availability with the DEFAULT timings (60 s lease, 40 s renew deadline, 2 s retry): the
 * API server stalls (every request and response held by the proxies: connections accepted,
 * nothing answered) for 30 s, then for 45 s. Two operator processes. About two and a half minutes.
 */
import assert from 'node:assert/strict';
import { eventually, sleep, within } from '../support/ha.ts';
import { dumpOnFailure, holder, issued, putIdentities, startEnv, startOperators, stopEnv, type HaEnv } from './ha-env.ts';

const DEFAULTS = ['--leader-elect=true', '--shutdown-grace=5s'];
const figures: string[] = [];

describe('high availability: the API server stalls, default leader-election timings (fake apiserver)', function () {
  this.timeout(180_000);
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
    if (figures.length) process.stdout.write(`HA stall figures (fake apiserver):\n${figures.map((m) => `  ${m}\n`).join('')}`);
  });

  it('a 30 s stall: no process exits, the leader keeps the Lease and issues what arrived meanwhile', async () => {
    const { api, stall } = env!;
    const [a, b] = await startOperators(env!, 2, DEFAULTS);
    const transitions = (api.get('leases', 'mtls-system', 'mtls-operator')!.spec as { leaseTransitions: number }).leaseTransitions;
    stall.begin();
    const began = performance.now();
    const names = putIdentities(api, 'stall', 'during', 3);
    await sleep(30_000);
    stall.end();
    const ended = performance.now();
    await eventually('the leader to issue after the stall', () => issued(api, 'stall', names) === names.length, 30_000);
    const caughtUp = performance.now() - ended;
    await sleep(3_000);
    assert.equal(a!.exitCode, undefined, 'a still running');
    assert.equal(b!.exitCode, undefined, 'b still running');
    assert.match(holder(api), /^a_/);
    assert.equal((api.get('leases', 'mtls-system', 'mtls-operator')!.spec as { leaseTransitions: number }).leaseTransitions, transitions);
    assert.equal(a!.logged('leader election: leadership lost'), undefined);
    assert.ok(a!.proxy.secretWrites('stall').length === names.length && b!.proxy.secretWrites('stall').length === 0, 'a issued them');
    figures.push(`30 s stall: no restart; the leader issued what arrived during the stall ${(caughtUp / 1000).toFixed(1)} s after it ended (stall began at ${(began / 1000).toFixed(0)} s)`);
  });

  it('a 45 s stall: the leader steps down at its renew deadline (exit 1), the standby takes over within one lease', async () => {
    const { api, stall } = env!;
    const [a, b] = await startOperators(env!, 2, DEFAULTS);
    const lastRenewal = () => a!.proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/leases/') && r.status === 200).at(-1)!.at;
    stall.begin();
    const began = performance.now();
    const names = putIdentities(api, 'stall', 'during', 3);
    const code = await within(a!.exited, 60_000, 'a to step down');
    const steppedDown = performance.now();
    assert.equal(code, 1);
    assert.ok(a!.logged('leader election: leadership lost'));
    const renewedBeforeStall = lastRenewal();
    assert.ok(steppedDown - renewedBeforeStall <= 40_000 + 2_000, `stepped down ${steppedDown - renewedBeforeStall} ms after its last renewal`);
    await sleep(Math.max(0, 45_000 - (performance.now() - began)));
    stall.end();
    const ended = performance.now();
    await eventually('b to issue what arrived during the stall', () => issued(api, 'stall', names) === names.length, 90_000);
    const resumed = performance.now();
    assert.match(holder(api), /^b_/);
    assert.deepEqual(a!.proxy.writesSince(steppedDown).map((r) => `${r.method} ${r.path}`), [], 'a sent nothing once it had stepped down');
    // What a sent while it still led sat in the stalled server and was served when it resumed,
    // before b could take the Lease (b needs the server to write it).
    const late = a!.proxy.requests.filter((r) => r.method !== 'GET' && r.answeredAt > ended);
    const bTook = b!.proxy.requests.find((r) => r.method === 'PUT' && r.path.includes('/leases/') && r.status === 200)!.answeredAt;
    assert.ok(late.every((r) => r.answeredAt < bTook), 'every late write of a landed before b held the Lease');
    assert.ok(resumed - began <= 60_000 + 2.4 * 2_000 + 5_000, `issuance resumed ${resumed - began} ms after the stall began`);
    figures.push(`45 s stall: the leader stepped down ${((steppedDown - renewedBeforeStall) / 1000).toFixed(1)} s after its last renewal; the standby took the Lease ${((bTook - ended) / 1000).toFixed(1)} s after the stall ended and issuance was complete ${((resumed - ended) / 1000).toFixed(1)} s after it ended (${((resumed - began) / 1000).toFixed(1)} s after it began); ${late.length} write(s) the old leader sent before its deadline were served when the stall ended`);
  });
});
