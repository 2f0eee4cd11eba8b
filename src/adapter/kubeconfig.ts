/**
 * Which cluster to talk to: KUBECONFIG, else ~/.kube/config, else the in-cluster service account. client-node's
 * loadFromDefault() falls back to http://localhost:8080 when none of these exists, and the operator would then log
 * "HTTP protocol is not allowed" for every watch, forever; here that case is one clear error instead.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export class NoClusterError extends Error {
  constructor() {
    super(
      'no Kubernetes cluster found: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod. ' +
        'Point it at one with KUBECONFIG=<file> (a kind cluster: `kind create cluster`; or this project\'s own control plane: `npm run local`).',
    );
    this.name = 'NoClusterError';
  }
}

export interface KubeConfigSources {
  env: NodeJS.ProcessEnv;
  home?: string;
  /** Whether a path exists (tests). */
  exists?: (path: string) => boolean;
}

export function loadKubeConfig({ env, home = homedir(), exists = existsSync }: KubeConfigSources): KubeConfig {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST) && exists(SERVICE_ACCOUNT_TOKEN);
  if (!env.KUBECONFIG && !exists(join(home, '.kube', 'config')) && !inCluster) throw new NoClusterError();
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (err) {
    throw new Error(`cannot load the kubeconfig (${env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG}` : '~/.kube/config or the in-cluster service account'}): ${(err as Error).message.split('\n')[0]}`);
  }
  return kubeConfig;
}
