/**
 * How the cluster port changes objects the operator does not own, by JSON merge patch: an
 * identity's status subresource (the answer written through to the identity cache) and a
 * workload's pod-template annotations (the opt-in restart).
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { FIELD_MANAGER, GROUP, PLURAL, VERSION, type MutualTLSIdentityStatus, type WorkloadRef } from '../api/types.ts';
import { cachedIdentity } from './convert.ts';
import type { KubeApi } from './kube-api.ts';
import { callApi } from './timing.ts';
import { forNamespace, type WatchSet } from './watches.ts';

export async function patchIdentityStatus(api: KubeApi, watches: WatchSet, namespace: string, name: string, status: MutualTLSIdentityStatus): Promise<void> {
  const updated: unknown = await callApi(`PATCH ${PLURAL}/${namespace}/${name}/status`, api.timeoutMs, (o) =>
    api.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status }, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o),
    ), api.write);
  if (updated !== null && typeof updated === 'object' && 'metadata' in updated) {
    forNamespace(watches.identities, namespace)?.put(cachedIdentity(updated));
  }
}

export async function patchWorkloadTemplate(api: KubeApi, namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void> {
  const { kind, name } = workload;
  const body = { spec: { template: { metadata: { annotations } } } };
  const req = { name, namespace, body, fieldManager: FIELD_MANAGER };
  await callApi<unknown>(`PATCH ${kind.toLowerCase()}s/${namespace}/${name}`, api.timeoutMs, (o) => {
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o);
    return kind === 'Deployment'
      ? api.apps.patchNamespacedDeployment(req, merge)
      : kind === 'StatefulSet'
        ? api.apps.patchNamespacedStatefulSet(req, merge)
        : api.apps.patchNamespacedDaemonSet(req, merge);
  }, api.write);
}
