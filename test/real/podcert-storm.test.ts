/**
 * Issue 18, point 1, the storm: a Deployment's worth of pods (PODS) bound across NODES nodes, every pod's
 * PodCertificateRequest created at once with its node's credentials, then every node "restarts" (a restarted kubelet
 * asks again: a new request per pod, a new key) while the operator itself is killed (SIGKILL) half-way and started
 * again. On a real kube-apiserver 1.37.2 of this file's own (its audit log counts only this scenario), it shows:
 *   - every request ends Issued, answered by exactly one status write (audit log: one update of .../status per
 *     request, no 409 at all), including across the operator's crash: no request is signed twice;
 *   - every certificate has its own serial;
 *   - the pace is the operator's re-issue token bucket (--reissue-rate, the same RateLimiter and work queue that pace
 *     Secret re-issues): in any window of the status writes of one operator process, at most rate x window + burst
 *     (+ SLACK_S seconds of slack for the time between taking a slot and the write, on a loaded machine), and a wave of PODS requests takes at
 *     least (PODS - burst) / rate seconds.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { ownControlPlane, type AuditEvent, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import {
  createRequest, installOperatorRbac, listRequests, makeNode, makePods, OPERATOR_USER, pool, stubRequest, terminalType,
  type NodeRef, type PcrObject, type PodRef,
} from '../support/podcert-cluster.ts';
import { eventually } from '../support/wait.ts';

const NODES = 5;
const PODS = 300;
const RATE = 10; // --reissue-rate: 10/s, burst 10
const NS = 'storm';
const SLACK_S = 2;

/** The largest count of writes in any window beyond what `rate` (burst = rate) allows, with `slackS` seconds of slack. */
export function worstExcess(timesMs: number[], rate: number, slackS: number): { excess: number; window: string } {
  const t = [...timesMs].sort((a, b) => a - b);
  let worst = { excess: -Infinity, window: '' };
  for (let i = 0; i < t.length; i++) {
    for (let j = i; j < t.length; j++) {
      const allowed = rate * ((t[j]! - t[i]!) / 1000 + slackS) + rate;
      const excess = j - i + 1 - allowed;
      if (excess > worst.excess) worst = { excess, window: `${j - i + 1} writes in ${((t[j]! - t[i]!) / 1000).toFixed(2)} s` };
    }
  }
  return worst;
}

describe('pod certificates under a storm on the real API server: hundreds of pods, all nodes restarting, the operator crashing (issue 18)', function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let nodes: NodeRef[] = [];
  let pods: PodRef[] = [];
  const operators: OperatorProcess[] = [];
  const startOperator = async () => {
    const op = new OperatorProcess(await cp.serviceAccountKubeconfig('mtls-system', 'mtls-operator'), [
      '--pod-certificates=true', `--reissue-rate=${RATE}`, '--workers=4', '--shutdown-grace=2s',
    ]);
    operators.push(op);
    await eventually('the signer is on', async () => op.logged('pod certificate signer on'), 90_000, 200);
    return op;
  };
  const statusWrites = (names: Set<string>): AuditEvent[] => cp.audit((e) =>
    e.stage === 'ResponseComplete' && e.user.username === OPERATOR_USER && e.objectRef?.resource === 'podcertificaterequests' &&
    e.objectRef.subresource === 'status' && names.has(e.objectRef.name ?? ''));
  const wave = async (suffix: string) => {
    const stubs = await Promise.all(pods.map(() => stubRequest()));
    const t0 = Date.now();
    await pool(pods, 32, (p, i) => createRequest(nodes.find((n) => n.name === p.node)!, p, `${p.name}-${suffix}`, stubs[i]!));
    return { t0, names: new Set(pods.map((p) => `${p.name}-${suffix}`)) };
  };
  const issuedOf = async (names: Set<string>) => (await listRequests(cp, NS)).filter((p) => names.has(p.metadata.name));
  const allIssued = (names: Set<string>, ms: number) => eventually(`all ${names.size} requests Issued`, async () => {
    const items = await issuedOf(names);
    const bad = items.find((p) => terminalType(p) && terminalType(p) !== 'Issued');
    if (bad) throw new Error(`${bad.metadata.name}: ${JSON.stringify(bad.status?.conditions)}`);
    return items.filter((p) => terminalType(p) === 'Issued').length === names.size ? items : undefined;
  }, ms, 500);
  const ms = (e: AuditEvent) => Date.parse(e.requestReceivedTimestamp);

  before(async function () {
    cp = await ownControlPlane(this, { controllerManager: false });
    await installOperatorRbac(cp);
    await cp.kubectl(['create', 'namespace', NS]);
    nodes = await Promise.all(Array.from({ length: NODES }, (_, i) => makeNode(cp, `storm-node-${i}`)));
    pods = await makePods(cp, NS, 'web', nodes, PODS, 'web');
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') for (const op of operators) process.stderr.write(`--- operator log ---\n${op.tail(30)}\n`);
    for (const op of operators) op.kill();
    await Promise.all(operators.map((op) => op.exited));
    await cp?.stop();
  });

  let first: { names: Set<string>; items: PcrObject[] };
  let second: { names: Set<string>; items: PcrObject[] };
  let crashAt = 0;

  it(`${PODS} pods on ${NODES} nodes ask at once: all Issued at the token bucket's pace (--reissue-rate=${RATE}), one status write each`, async () => {
    await startOperator();
    const { t0, names } = await wave('a');
    const items = await allIssued(names, 240_000);
    first = { names, items };
    const writes = statusWrites(names);
    const times = writes.map(ms);
    const seconds = (Math.max(...times) - t0) / 1000;
    const worst = worstExcess(times, RATE, SLACK_S);
    process.stdout.write(`      wave 1: ${PODS} requests Issued in ${seconds.toFixed(1)} s after the first create (${(PODS / seconds).toFixed(1)}/s; worst window ${worst.window}), ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    assert.equal(writes.length, PODS, 'exactly one status write per request (none retried, none twice)');
    assert.ok(writes.every((w) => w.verb === 'update' && w.responseStatus?.code === 200), 'no 409 or other failure');
    assert.ok(worst.excess <= 0, `more writes than --reissue-rate allows: ${worst.window}`);
    assert.ok(seconds >= (PODS - RATE) / RATE - 1, `${PODS} requests in ${seconds.toFixed(1)} s: faster than ${RATE}/s after a burst of ${RATE}, the bucket did not pace them`);
  });

  it('every node restarts (a new request per pod) and the operator is killed half-way: every request Issued exactly once, no 409', async () => {
    const { names } = await wave('b');
    // Kill the operator once a third of the wave is answered, mid-stream (SIGKILL: no graceful drain), and start another.
    await eventually('a third answered', async () => statusWrites(names).length >= PODS / 3 || undefined, 120_000, 100);
    operators.at(-1)!.kill();
    await operators.at(-1)!.exited;
    crashAt = Date.now();
    const op = await startOperator();
    const items = await allIssued(names, 240_000);
    second = { names, items };
    const writes = statusWrites(names);
    // Writes the API server received before the old process was gone are the old process's.
    const answeredBefore = writes.filter((w) => ms(w) < crashAt).length;
    process.stdout.write(`      wave 2: ${answeredBefore} answered before the crash, the rest by the next process (${op.count('pod certificate issued')} in its log)\n`);
    assert.equal(writes.length, PODS, 'exactly one status write per request across the crash');
    assert.ok(writes.every((w) => w.verb === 'update' && w.responseStatus?.code === 200), 'no 409 or other failure');
    assert.equal(op.count('pod certificate issued'), PODS - answeredBefore, 'the new process signed only what was not answered');
    // Pacing holds per process (each starts with a full bucket).
    const before = writes.map(ms).filter((t) => t < crashAt);
    const afterCrash = writes.map(ms).filter((t) => t >= crashAt);
    for (const [which, times] of [['before the crash', before], ['after the crash', afterCrash]] as const) {
      const worst = worstExcess(times, RATE, SLACK_S);
      assert.ok(worst.excess <= 0, `${which}: more writes than --reissue-rate allows: ${worst.window}`);
    }
  });

  it(`every certificate of the ${2 * PODS} has its own serial, and each pod got one per wave`, () => {
    assert.ok(first && second, 'both waves ran');
    const serials = [...first.items, ...second.items].map((p) => new X509Certificate(p.status!.certificateChain!).serialNumber);
    assert.equal(new Set(serials).size, 2 * PODS);
    for (const w of [first, second]) assert.equal(new Set(w.items.map((p) => p.spec.podName)).size, PODS);
  });
});
