/**
 * Issue 19, point 1, the measured bound: what the operator's memory does while a hostile tenant's objects exist on
 * a real kube-apiserver, under deploy/deployment.yaml's NODE_OPTIONS (its old-space cap) and memory limit, read from that file.
 *
 * The tenant creates, in one namespace, 250 ConfigMaps of ~1 MB labelled app.kubernetes.io/managed-by=mtls-operator
 * (the review's crash: "JavaScript heap out of memory" 1.7 s after they appeared) and 250 identities whose
 * secretTemplate is as large as the CRD admits (32 labels and 32 annotations, keys of 317 characters, annotation
 * values of 1024), each copied onto its Secret. The operator runs while they arrive and is then restarted with all
 * of it present (every restart re-lists). Peak RSS (VmHWM from /proc) and the largest V8 heap in use seen on
 * /metrics are asserted below the Deployment's limits and printed: the README's figure comes from this test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MANAGED = { 'app.kubernetes.io/managed-by': 'mtls-operator' };
const ONE_MB = 'A'.repeat(1000 * 1024);
const COUNT = 250;
/** deploy/deployment.yaml's NODE_OPTIONS and container memory limit, read from it (so the test follows the Deployment). */
const DEPLOYMENT = readFileSync(`${fileURLToPath(new URL('../..', import.meta.url))}deploy/deployment.yaml`, 'utf8');
const NODE_OPTIONS = /value: (--max-semi-space-size=\d+ --max-old-space-size=\d+)/.exec(DEPLOYMENT)![1]!;
const HEAP_CAP_MB = Number(/--max-old-space-size=(\d+)/.exec(NODE_OPTIONS)![1]);
const LIMIT_MI = Number(/limits:\s*\n(?:\s+cpu: \S+\n)?\s+memory: (\d+)Mi/.exec(DEPLOYMENT)![1]);
const LIMIT_BYTES = LIMIT_MI * 1024 * 1024;
const HEAP_CAP_BYTES = HEAP_CAP_MB * 1000 * 1000;

/** A qualified key of the longest form: a 253-character DNS prefix, '/', a 63-character name. */
const PREFIX = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
const key = (kind: string, i: number) => `${PREFIX}/${`${kind}-${String(i).padStart(2, '0')}`.padEnd(63, 'x')}`;
const maximalTemplate = (n: number) => ({
  labels: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [key('l', i), `${n}-${i}`.padEnd(63, 'v')])),
  annotations: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [key('a', i), `${n}-${i}-`.padEnd(1024, 'w')])),
});

function vmHWM(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmHWM in /proc/<pid>/status');
  return Number(m[1]) * 1024;
}

/** Poll /metrics for the V8 heap in use; returns a stop() giving the largest value seen. */
function heapSampler(op: OperatorProcess): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const port = op.logged('metrics and health endpoint listening')?.port as number | undefined;
      if (port) {
        try {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          const used = /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
          if (used) max = Math.max(max, Number(used[1]));
        } catch {
          // a scrape during start or exit
        }
      }
      await sleep(500);
    }
  })();
  return { stop: async () => ((running = false), await loop, max) };
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

describe('real apiserver: hostile tenants, the measured memory bound (issue 19, point 1)', function () {
  this.timeout(900_000);
  let cp: ControlPlane;
  let kubeconfig: string;
  let tenant: string;
  let op: OperatorProcess | undefined;

  before(async function () {
    cp = await controlPlane(this);
    const res = await cp.kubectl(['apply', '-k', `${ROOT}deploy/`]);
    assert.equal(res.code, 0, res.stderr);
    await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
    tenant = await cp.newNamespace('hostile');
    kubeconfig = await cp.serviceAccountKubeconfig('mtls-system', 'mtls-operator');
  });

  after(async () => {
    op?.kill();
    await op?.exited;
    // Free etcd for the files that follow: 250 MB of ConfigMaps.
    await cp?.kubeConfig.makeApiClient(CoreV1Api).deleteCollectionNamespacedConfigMap({ namespace: tenant, labelSelector: 'app.kubernetes.io/managed-by=mtls-operator' }).catch(() => undefined);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log (last 60 lines) ---\n${op.tail()}\n`);
  });

  const readyCount = async () => {
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL })) as { items: MutualTLSIdentity[] };
    return list.items.filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  };

  it(`${COUNT} labelled 1 MB ConfigMaps and ${COUNT} identities with maximal secretTemplates: the operator stays up, issues all, and its peak RSS and heap stay under the Deployment's limits, also across a restart`, async () => {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await cp.kubectl(['-n', 'mtls-system', 'delete', 'lease/mtls-operator', '--ignore-not-found']);
    op = new OperatorProcess(kubeconfig, [`--watch-namespaces=${tenant}`, '--leader-elect=false'], { env: { NODE_OPTIONS, MTLS_LOG_LEVEL: 'info' } });
    await eventually('controller started', () => op!.logged('controller started'), 120_000, 200);
    let sampler = heapSampler(op);
    const started = Date.now();
    // Four writers at a time: the hostile objects arrive while the operator runs.
    const jobs: (() => Promise<unknown>)[] = [];
    for (let i = 0; i < COUNT; i++) {
      jobs.push(() => core.createNamespacedConfigMap({ namespace: tenant, body: { metadata: { name: `junk-${i}`, labels: MANAGED }, data: { blob: ONE_MB } } }));
      jobs.push(() => custom.patchNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL, name: `big-${i}`, fieldManager: 'tenant', force: true,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: `big-${i}`, namespace: tenant }, spec: { secretName: `big-${i}-tls`, secretTemplate: maximalTemplate(i) } },
      }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)));
    }
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    }));
    await eventually(`all ${COUNT} identities Ready`, async () => (await readyCount()) === COUNT, 600_000, 2_000);
    const firstHeap = await sampler.stop();
    const firstHWM = vmHWM(op.child.pid!);
    assert.equal(op.child.exitCode, null, 'the operator is still running');
    const secret = await cp.readSecret(tenant, 'big-7-tls');
    assert.equal(secret?.metadata?.annotations?.[key('a', 31)], maximalTemplate(7).annotations[key('a', 31)], 'the maximal template reached the Secret');
    process.stderr.write(`      while arriving (${((Date.now() - started) / 1000).toFixed(0)} s): peak RSS (VmHWM) ${mb(firstHWM)}, largest heap in use seen ${mb(firstHeap)}\n`);

    // A restart with everything present: the first list sees all of it at once.
    op.kill();
    await op.exited;
    op = new OperatorProcess(kubeconfig, [`--watch-namespaces=${tenant}`, '--leader-elect=false'], { env: { NODE_OPTIONS, MTLS_LOG_LEVEL: 'info' } });
    sampler = heapSampler(op);
    await eventually('controller started after the restart', () => op!.logged('controller started'), 300_000, 200);
    // Every identity is looked at once after the sync (each finds its Secret valid: no write); a measuring window.
    await sleep(30_000);
    const secondHeap = await sampler.stop();
    const secondHWM = vmHWM(op.child.pid!);
    assert.equal(op.child.exitCode, null, 'still running after the restart');
    assert.equal(await readyCount(), COUNT);
    assert.equal(op.lines.filter((l) => l.message === 'certificate issued').length, 0, 'nothing re-issued on restart');
    process.stderr.write(`      after a restart with all of it present: peak RSS (VmHWM) ${mb(secondHWM)}, largest heap in use seen ${mb(secondHeap)}\n`);

    for (const [what, hwm, heap] of [['arrival', firstHWM, firstHeap], ['restart', secondHWM, secondHeap]] as const) {
      assert.ok(hwm < LIMIT_BYTES, `${what}: peak RSS ${mb(hwm)} under the ${LIMIT_MI} Mi limit`);
      assert.ok(heap > 0 && heap < HEAP_CAP_BYTES, `${what}: heap ${mb(heap)} under the ${HEAP_CAP_MB} MB cap`);
    }
    assert.ok(!op.text.includes('heap out of memory'));
  });
});
