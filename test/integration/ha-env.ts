/** The fake apiserver as a backend of the HA process tests (test/support/ha-suites.ts). */
import type { RequestOptions } from 'node:https';
import { FakeApiServer } from './fake-apiserver.ts';
import { proxyStall, type HaBackend } from '../support/ha-suites.ts';

const IDENTITIES = 'mutualtlsidentities';

export async function fakeBackend(namespace: string): Promise<HaBackend> {
  const api = await FakeApiServer.start();
  const operatorNamespace = 'mtls-system';
  return {
    upstream: {
      url: api.url,
      authorize: async (o: RequestOptions) => {
        o.headers = { ...(o.headers as Record<string, string>), authorization: `Bearer ${api.token}` };
      },
    },
    operatorNamespace,
    namespace,
    async putIdentities(prefix, count) {
      const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      for (const name of names) api.putCustom(IDENTITIES, namespace, name, { secretName: `${name}-mtls`, serviceAccountName: name });
      return names;
    },
    async issued(names) {
      return names.filter((n) => api.get('secrets', namespace, `${n}-mtls`)).length;
    },
    async lease() {
      const spec = api.get('leases', operatorNamespace, 'mtls-operator')?.spec as { holderIdentity?: string; leaseTransitions?: number } | undefined;
      return { holder: spec?.holderIdentity ?? '', transitions: spec?.leaseTransitions ?? 0 };
    },
    freeze: () => proxyStall.begin(),
    thaw: () => proxyStall.end(),
    close: () => api.close(),
  };
}
