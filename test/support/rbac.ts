/**
 * Waiting for RBAC to take effect. The authorizer learns of new and taken-over (--take-ownership) bindings through
 * its informers: under load (CI) an operator's first requests came before that and were forbidden. The helm test and
 * bench:real start the operator as its ServiceAccount only once `kubectl auth can-i` says yes to each of these.
 */
import type { ControlPlane } from './controlplane.ts';
import { eventually } from './wait.ts';

/** The verbs the operator uses first, as `kubectl auth can-i` arguments; `namespace` is the operator's own. */
export function operatorFirstVerbs(namespace: string): string[][] {
  return [['list', 'mutualtlsidentities.mtls.dev', '-A'], ['patch', 'mutualtlsidentities.mtls.dev', '--subresource=status', '-A'],
    ['create', 'secrets', '-A'], ['create', 'events', '-A'], ['create', 'leases.coordination.k8s.io', '-n', namespace],
    ['update', 'leases.coordination.k8s.io/mtls-operator', '-n', namespace]];
}

/** Resolves once the identity of `kubeconfig` may do all of `operatorFirstVerbs(namespace)`; throws after `ms`. */
export async function untilOperatorRbacInEffect(cp: ControlPlane, kubeconfig: string, namespace: string, ms = 60_000): Promise<void> {
  const can = async (args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args], { kubeconfig })).stdout.trim() === 'yes';
  await eventually(`RBAC in effect for the operator's ServiceAccount (${namespace})`,
    async () => (await Promise.all(operatorFirstVerbs(namespace).map(can))).every(Boolean), ms, 250);
}
