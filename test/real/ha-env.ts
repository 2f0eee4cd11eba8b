/** A real kube-apiserver (test/support/controlplane.ts) as a backend of the HA process tests (test/support/ha-suites.ts). */
import https from 'node:https';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../../src/api/types.ts';
import type { ControlPlane } from '../support/controlplane.ts';
import type { HaBackend } from '../support/ha-suites.ts';

export async function realBackend(cp: ControlPlane, prefix: string): Promise<HaBackend> {
  const operatorNamespace = await cp.newNamespace(`${prefix}-op`);
  const namespace = await cp.newNamespace(prefix);
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  // The proxies forward with the admin client certificate, over kept-alive connections.
  const template: https.RequestOptions = {};
  await cp.kubeConfig.applyToHTTPSOptions(template);
  const agent = new https.Agent({ ca: template.ca, cert: template.cert, key: template.key, keepAlive: true });
  const pid = cp.apiserverPid();
  let frozen = false;
  return {
    upstream: {
      url: cp.server,
      authorize: async (o) => {
        o.agent = agent;
        if (template.headers) o.headers = { ...(o.headers as Record<string, string>), ...(template.headers as Record<string, string>) };
      },
    },
    operatorNamespace,
    namespace,
    async putIdentities(p, count) {
      const names = Array.from({ length: count }, (_, i) => `${p}-${i}`);
      await Promise.all(names.map((name) => custom.createNamespacedCustomObject({
        group: GROUP, version: VERSION, plural: PLURAL, namespace,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace }, spec: { secretName: `${name}-mtls`, serviceAccountName: name } },
      })));
      return names;
    },
    async issued(names) {
      const have = new Set((await core.listNamespacedSecret({ namespace })).items.map((s) => s.metadata?.name));
      return names.filter((n) => have.has(`${n}-mtls`)).length;
    },
    async lease() {
      try {
        const l = await leases.readNamespacedLease({ namespace: operatorNamespace, name: 'mtls-operator' });
        return { holder: l.spec?.holderIdentity ?? '', transitions: l.spec?.leaseTransitions ?? 0 };
      } catch {
        return { holder: '', transitions: 0 };
      }
    },
    freeze() {
      process.kill(pid, 'SIGSTOP');
      frozen = true;
    },
    thaw() {
      if (!frozen) return;
      frozen = false;
      process.kill(pid, 'SIGCONT');
    },
    async close() {
      agent.destroy();
      await Promise.all([operatorNamespace, namespace].map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
    },
  };
}
