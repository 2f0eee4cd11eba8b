/**
 * Pod-certificate scenery (test/real/podcert*.test.ts, bench/podcert.ts): the operator's RBAC with
 * deploy/optional/pod-certificates, Nodes with kubelet credentials, Pods bound to them with a podCertificate volume
 * for mtls.dev/identity, and PodCertificateRequests created with the node's credentials carrying a fresh key's stub
 * PKCS#10 request, as a kubelet makes them.
 */
import { webcrypto } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { x509 } from '../../src/pki/x509.ts';
import type { ControlPlane } from './controlplane.ts';
import { sleep } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SIGNER = 'mtls.dev/identity';
export const PCR = { group: 'certificates.k8s.io', version: 'v1', plural: 'podcertificaterequests' };
export const OPERATOR_USER = 'system:serviceaccount:mtls-system:mtls-operator';

export interface PodRef { name: string; namespace: string; uid: string; sa: string; saUid: string; node: string; nodeUid: string }
export interface NodeRef { name: string; uid: string; custom: CustomObjectsApi }

/** deploy/ and deploy/optional/pod-certificates applied (the name-policy binding left out: no identities here). */
export async function installOperatorRbac(cp: ControlPlane): Promise<void> {
  await cp.installCrd();
  for (const args of [['apply', '-k', `${ROOT}deploy/`], ['apply', '-k', `${ROOT}deploy/optional/pod-certificates`]]) {
    const res = await cp.kubectl(args);
    if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${res.stderr}`);
  }
  await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
}

/** A Node object and a client of that node's kubelet credentials. */
export async function makeNode(cp: ControlPlane, name: string): Promise<NodeRef> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  const uid = (await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } })).metadata!.uid!;
  const kc = new KubeConfig();
  kc.loadFromFile(await cp.nodeKubeconfig(name));
  return { name, uid, custom: kc.makeApiClient(CustomObjectsApi) };
}

/** Run `fn` over `items`, `concurrency` at a time. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

/** `count` Pods in `namespace` running as `sa`, spread round-robin over `nodes`, each with a podCertificate volume. */
export async function makePods(cp: ControlPlane, namespace: string, sa: string, nodes: NodeRef[], count: number, prefix = 'app'): Promise<PodRef[]> {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const saUid = (await core.readNamespacedServiceAccount({ namespace, name: sa })).metadata!.uid!;
  return pool(Array.from({ length: count }, (_, i) => i), 16, async (i) => {
    const node = nodes[i % nodes.length]!;
    const name = `${prefix}-${i}`;
    const created = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app: prefix } },
        spec: {
          nodeName: node.name, serviceAccountName: sa, automountServiceAccountToken: false,
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
          volumes: [{ name: 'identity', projected: { sources: [{ podCertificate: { signerName: SIGNER, keyType: 'ECDSAP256', credentialBundlePath: 'credentialbundle.pem' } }] } }],
        },
      },
    });
    return { name, namespace, uid: created.metadata!.uid!, sa, saUid, node: node.name, nodeUid: node.uid };
  });
}

/** An empty stub PKCS#10 request signed by a new P-256 key, base64 DER, as the kubelet makes one. */
export async function stubRequest(): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  return Buffer.from(csr.rawData).toString('base64');
}

/**
 * A PodCertificateRequest `name` for `pod`, created with its node's credentials. A 403 right after the pod was created
 * is the Node authorizer's graph not having the pod yet: retried a few times, as a kubelet retries.
 */
export async function createRequest(node: NodeRef, pod: PodRef, name: string, stub: string, maxExpirationSeconds = 86_400): Promise<void> {
  const body = {
    apiVersion: `${PCR.group}/${PCR.version}`, kind: 'PodCertificateRequest', metadata: { name, namespace: pod.namespace },
    spec: {
      signerName: SIGNER, podName: pod.name, podUID: pod.uid, serviceAccountName: pod.sa, serviceAccountUID: pod.saUid,
      nodeName: pod.node, nodeUID: pod.nodeUid, maxExpirationSeconds, stubPKCS10Request: stub,
    },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await node.custom.createNamespacedCustomObject({ ...PCR, namespace: pod.namespace, body });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 403 || attempt >= 20) throw err;
      await sleep(250);
    }
  }
}

export type PcrObject = {
  metadata: { name: string; namespace: string };
  spec: { podName: string };
  status?: { conditions?: { type: string; reason: string; message: string }[]; certificateChain?: string };
};

/** The terminal condition type of a request (Issued, Denied, Failed), if any. */
export const terminalType = (p: PcrObject): string | undefined =>
  p.status?.conditions?.find((c) => ['Issued', 'Denied', 'Failed'].includes(c.type))?.type;

/** Every request of a namespace (paged list as admin). */
export async function listRequests(cp: ControlPlane, namespace: string): Promise<PcrObject[]> {
  const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const items: PcrObject[] = [];
  let cont: string | undefined;
  do {
    const page = (await custom.listNamespacedCustomObject({ ...PCR, namespace, limit: 500, ...(cont ? { _continue: cont } : {}) })) as { items: PcrObject[]; metadata?: { _continue?: string; continue?: string } };
    items.push(...page.items);
    cont = page.metadata?.continue ?? page.metadata?._continue;
  } while (cont);
  return items;
}
