/**
 * The in-memory cluster (src/cluster/memory.ts) must not contradict the real API server. Each scenario here runs the
 * same steps through the cluster port on both — MemoryCluster and the client-node KubeCluster against a real
 * kube-apiserver — and the outcomes (error codes, data keys, labels) must be equal. Server-side apply ownership
 * across POST, apply and another manager's edits; resourceVersion preconditions; apply without force; immutable type;
 * label values the server refuses.
 */
import assert from 'node:assert/strict';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapter/kube.ts';
import type { Secret } from '../../src/api/types.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { ClusterError, type Cluster } from '../../src/cluster/port.ts';
import { silentLogger } from '../../src/log.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';

interface Side {
  cluster: Cluster;
  /** Another field manager (not the operator) adds a label, as `kubectl label` would. */
  otherLabel(ns: string, name: string, key: string, value: string): Promise<void>;
  /** Another manager replaces one data key's value (kubectl edit). */
  otherData(ns: string, name: string, key: string, value: string): Promise<void>;
  read(ns: string, name: string): Promise<Secret | undefined>;
}

type Outcome = { steps: string[]; dataKeys: string[]; labels: Record<string, string> };

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (ns: string, name: string, data: Record<string, string>, extra: Partial<Secret['metadata']> = {}, type = 'Opaque'): Secret => ({
  metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'mtls-operator' }, ...extra },
  type,
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

/** Run a step; record 'ok' or the error's HTTP code. */
async function step(steps: string[], fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
    steps.push('ok');
  } catch (err) {
    if (!(err instanceof ClusterError)) throw err;
    steps.push(String(err.code));
  }
}

const SCENARIOS: { title: string; run(side: Side, ns: string, steps: string[]): Promise<void> }[] = [
  {
    title: 'an apply that omits a data key it applied before removes it',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1', y: '2' })));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' })));
    },
  },
  {
    title: 'a key first written by POST (an Update manager) is not removed by a later apply that omits it',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.createSecret(secret(ns, 'a', { x: '1', y: '2' })));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' })));
    },
  },
  {
    title: 'a label another manager added survives the operator\'s applies',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' })));
      await s.otherLabel(ns, 'a', 'team', 'payments');
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '2' })));
    },
  },
  {
    title: 'an apply carrying a stale resourceVersion is refused with 409 and changes nothing',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' })));
      const first = (await s.read(ns, 'a'))!;
      await s.otherLabel(ns, 'a', 'moved', 'yes');
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '2', z: '3' }, { resourceVersion: first.metadata.resourceVersion! })));
    },
  },
  {
    title: 'an apply without force over data another manager wrote differently is refused with 409; equal data is no conflict',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.createSecret(secret(ns, 'a', { x: '1', y: '2' })));
      await s.otherData(ns, 'a', 'x', 'changed');
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: 'mine' }), { force: false }));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { y: '2' }), { force: false }));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: 'mine', y: '2' }), { force: true }));
    },
  },
  {
    title: 'a Secret\'s type cannot change (422)',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { 'tls.crt': 'c', 'tls.key': 'k' }, {}, 'kubernetes.io/tls')));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { 'tls.crt': 'c', 'tls.key': 'k' }, {}, 'Opaque')));
    },
  },
  {
    title: 'a label value of 64 characters is refused (422), one of 63 accepted',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' }, { labels: { 'app.kubernetes.io/managed-by': 'mtls-operator', l: 'v'.repeat(64) } })));
      await step(steps, () => s.cluster.applySecret(secret(ns, 'a', { x: '1' }, { labels: { 'app.kubernetes.io/managed-by': 'mtls-operator', l: 'v'.repeat(63) } })));
    },
  },
  {
    title: 'creating a Secret that exists is refused with 409',
    async run(s, ns, steps) {
      await step(steps, () => s.cluster.createSecret(secret(ns, 'a', { x: '1' })));
      await step(steps, () => s.cluster.createSecret(secret(ns, 'a', { x: '2' })));
    },
  },
];

async function outcome(side: Side, ns: string, run: (side: Side, ns: string, steps: string[]) => Promise<void>): Promise<Outcome> {
  const steps: string[] = [];
  await run(side, ns, steps);
  const s = await side.read(ns, 'a');
  const labels = { ...(s?.metadata.labels ?? {}) };
  return { steps, dataKeys: Object.keys(s?.data ?? {}).sort(), labels };
}

describe('real apiserver: the in-memory cluster does not contradict it', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let real: KubeCluster;

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    real = new KubeCluster({ kubeConfig: cp.kubeConfig, operatorNamespace: 'mtls-system', caSecretName: 'mtls-root-ca', logger: silentLogger() });
  });

  const realSide = (): Side => ({
    cluster: real,
    async otherLabel(ns, name, key, value) {
      await core.patchNamespacedSecret({ namespace: ns, name, body: { metadata: { labels: { [key]: value } } }, fieldManager: 'kubectl-label' },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
    async otherData(ns, name, key, value) {
      await core.patchNamespacedSecret({ namespace: ns, name, body: { data: { [key]: b64(value) } }, fieldManager: 'kubectl-edit' },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
    async read(ns, name) {
      try {
        const s = await core.readNamespacedSecret({ namespace: ns, name });
        return { metadata: { name, namespace: ns, labels: s.metadata?.labels ?? {}, resourceVersion: s.metadata?.resourceVersion! }, type: s.type!, data: s.data ?? {} };
      } catch {
        return undefined;
      }
    },
  });

  const memorySide = (): Side => {
    const m = new MemoryCluster({ caNamespace: 'mtls-system', caName: 'mtls-root-ca' });
    const replace = (ns: string, name: string, change: (s: Secret) => void) => {
      const s = structuredClone(m.secrets.get(`${ns}/${name}`)!) as Secret;
      change(s);
      m.putSecret(s);
    };
    return {
      cluster: m,
      async otherLabel(ns, name, key, value) {
        replace(ns, name, (s) => (s.metadata.labels = { ...s.metadata.labels, [key]: value }));
      },
      async otherData(ns, name, key, value) {
        replace(ns, name, (s) => (s.data = { ...s.data, [key]: b64(value) }));
      },
      async read(ns, name) {
        return m.secrets.get(`${ns}/${name}`);
      },
    };
  };

  for (const sc of SCENARIOS) {
    it(sc.title, async () => {
      const ns = await cp.newNamespace('parity');
      const onServer = await outcome(realSide(), ns, sc.run);
      const inMemory = await outcome(memorySide(), ns, sc.run);
      assert.deepEqual(inMemory, onServer, 'the in-memory cluster differs from the real API server');
    });
  }
});
