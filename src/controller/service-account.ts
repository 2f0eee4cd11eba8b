/**
 * The ServiceAccount named in an identity's SPIFFE ID (issue 19, point 6).
 *
 * What is bound: spiffe://<td>/ns/<namespace>/sa/<name> always carries the identity's own namespace, and with the
 * check on, a ServiceAccount of that name exists there (ServiceAccountFound=True). What is not bound: that any pod
 * running as it uses the certificate -- whoever may create identities (and read Secrets) in a namespace gets a
 * certificate for any ServiceAccount there. Pod certificates (PodCertificateRequest) tie the two in the API server.
 */
import type { Condition, EventType } from '../api/types.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import type { Cluster } from '../cluster/port.ts';
import type { ConditionInput } from './conditions.ts';

/**
 * While a ServiceAccount is missing, the identity is looked at again this often (ServiceAccounts are not watched):
 * every 30 s for the first 5 minutes after the condition turned False (a ServiceAccount applied just after its
 * identity is seen at once), then every 5 minutes, so that identities naming ServiceAccounts that never come do
 * not each cost a reconcile every 30 s.
 */
export const SERVICE_ACCOUNT_RETRY_MS = 30_000;
export const SERVICE_ACCOUNT_SLOW_RETRY_MS = 5 * 60_000;

export function serviceAccountRetryMs(prev: Condition | undefined, now: number): number {
  if (prev?.status !== 'False') return SERVICE_ACCOUNT_RETRY_MS;
  const since = now - Date.parse(prev.lastTransitionTime);
  return since >= 0 && since < SERVICE_ACCOUNT_SLOW_RETRY_MS ? SERVICE_ACCOUNT_RETRY_MS : SERVICE_ACCOUNT_SLOW_RETRY_MS;
}

/** ServiceAccountFound: does spec.serviceAccountName exist in the identity's namespace? */
export async function serviceAccountCondition(cluster: Pick<Cluster, 'serviceAccountExists'>, namespace: string, spec: ResolvedSpec): Promise<ConditionInput> {
  const sa = spec.serviceAccountName;
  return (await cluster.serviceAccountExists(namespace, sa))
    ? { type: 'ServiceAccountFound', status: 'True', reason: 'ServiceAccountFound', message: `ServiceAccount ${namespace}/${sa} exists` }
    : { type: 'ServiceAccountFound', status: 'False', reason: 'ServiceAccountNotFound', message: `ServiceAccount ${namespace}/${sa} named in the SPIFFE ID ${spec.spiffeId} does not exist` };
}

/** The Event for a change of ServiceAccountFound: Warning when it turns False, Normal when it turns back to True. */
export function serviceAccountEvent(prev: Condition | undefined, next: ConditionInput): { type: EventType; message: string } | undefined {
  if (prev?.status === next.status) return undefined;
  if (next.status === 'False') return { type: 'Warning', message: `${next.message}: create the ServiceAccount or correct spec.serviceAccountName` };
  return prev ? { type: 'Normal', message: next.message } : undefined;
}
