/**
 * Issue 11 on a real kube-apiserver: Events "aggregated when thousands happen at once". The operator process (as its
 * own ServiceAccount, deploy/'s RBAC) runs with a small bucket (--event-burst=5, --event-rate=1) and 40 identities are
 * created at once in one namespace: the apiserver receives a few Issued Events one by one and one summary Event for
 * the rest, whose `count` makes up the difference, so every issuance is accounted for in fewer writes.
 */
import assert from 'node:assert/strict';
import { CoreV1Api, CustomObjectsApi, type CoreV1Event } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { operatorForNewNamespace, type OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const N = 40;

describe('real apiserver: an Event storm is folded into summaries (issue 11)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let ns: string;
  let op: OperatorProcess;

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    ({ ns, op } = await operatorForNewNamespace(cp, 'storm', ['--event-burst=5', '--event-rate=1'], (namespace) =>
      core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'web' } } })));
  });

  after(async () => {
    op?.kill();
    await op?.exited;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log (last 60 lines) ---\n${op.tail()}\n`);
  });

  it(`${N} identities at once: a few Issued Events one by one, the rest in summaries whose counts add up to ${N}`, async () => {
    const started = Date.now();
    await Promise.all(Array.from({ length: N }, (_, i) => custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: ns, plural: PLURAL,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: `svc-${i}` }, spec: { serviceAccountName: 'web' } },
    })));
    await eventually(`${N} Ready`, async () => {
      const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL })) as { items: MutualTLSIdentity[] };
      return list.items.filter((i) => i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === N || undefined;
    }, 180_000, 500);
    const seconds = (Date.now() - started) / 1000;
    // The summary comes when its 10 s window ends.
    const issued = await eventually('every issuance accounted for in Events', async () => {
      const events = (await core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.reason === 'Issued');
      const total = events.reduce((n, e) => n + (e.count ?? 1), 0);
      return total >= N ? events : undefined;
    }, 60_000, 500) as CoreV1Event[];
    const single = issued.filter((e) => (e.count ?? 1) === 1 && !/folded into this one/.test(e.message ?? ''));
    const summaries = issued.filter((e) => /folded into this one/.test(e.message ?? ''));
    assert.equal(issued.reduce((n, e) => n + (e.count ?? 1), 0), N, 'each issuance counted once');
    assert.ok(single.length >= 5, `the burst is written one by one (${single.length})`);
    assert.ok(single.length <= 5 + Math.ceil(seconds) + 1, `no more than the burst plus 1/s over ${seconds.toFixed(1)} s: ${single.length}`);
    assert.ok(summaries.length >= 1, 'at least one summary');
    assert.ok(issued.length < N / 2, `${issued.length} Event objects for ${N} issuances`);
    for (const s of summaries) {
      assert.equal(s.type, 'Normal');
      assert.equal(s.involvedObject.kind, 'MutualTLSIdentity');
      assert.equal(s.involvedObject.namespace, ns);
      assert.ok(s.involvedObject.uid, 'the summary is about one real identity');
      assert.match(s.message ?? '', new RegExp(`^${s.count} Normal Issued Events in namespace ${ns} within 10 s, folded into this one .*: svc-\\d+`));
      assert.match(s.message ?? '', /First: Issued certificate serial [0-9a-f]+/);
    }
  });
});
