/**
 * The adapter's four kinds of watch, each a supervised reflector (reflector.ts):
 *   identities: mutualtlsidentities.mtls.dev, all namespaces or one watch per listed namespace;
 *   secrets:    Secrets labeled app.kubernetes.io/managed-by=mtls-operator, never every Secret;
 *   configmaps: ConfigMaps with the same label (trust bundles, rotation state), all namespaces
 *               or one watch per listed namespace plus the operator namespace (rotation state);
 *   ca-secret:  the CA Secret, by fieldSelector metadata.name, in the operator namespace.
 */
import type { CoreV1Api, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import {
  GROUP,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  PLURAL,
  VERSION,
  type ConfigMap,
  type MutualTLSIdentity,
  type Secret,
} from '../api/types.ts';
import type { BackoffOptions } from './backoff.ts';
import { toConfigMap, toIdentity, toSecret } from './convert.ts';
import { listAllPages, type PageFn } from './paging.ts';
import { Reflector } from './reflector.ts';
import type { AdapterLogger, ChangeKind, KubeObject } from './types.ts';

/** Map key for the single watch over all namespaces. */
export const ALL = '*';
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

export interface WatchSetOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  watch: Watch;
  logger: AdapterLogger;
  namespaces?: string[];
  operatorNamespace: string;
  caSecretName: string;
  relistIntervalMs: number;
  watchdogMs: number;
  backoff: BackoffOptions;
  onIdentity(obj: MutualTLSIdentity): void;
  onSecret(obj: Secret): void;
  onConfigMap(obj: ConfigMap): void;
  onCaSecret(): void;
  onResync(): void;
}

export interface WatchSet {
  identities: Map<string, Reflector<MutualTLSIdentity>>;
  secrets: Map<string, Reflector<Secret>>;
  /** Keyed like the others; with a namespace list, the operator namespace has one too. */
  configMaps: Map<string, Reflector<ConfigMap>>;
  ca: Reflector<Secret>;
  all: Reflector<KubeObject>[];
}

/** The reflector for a namespace: the all-namespaces one, or that namespace's own. */
export function forNamespace<V>(map: Map<string, V>, namespace: string): V | undefined {
  return map.get(ALL) ?? map.get(namespace);
}

export function buildWatches(o: WatchSetOptions): WatchSet {
  const make = <T extends KubeObject>(
    name: string,
    path: string,
    query: Record<string, string>,
    normalize: (raw: unknown) => T,
    page: PageFn,
    onChange: (kind: ChangeKind, obj: T) => void,
  ): Reflector<T> =>
    new Reflector<T>({
      name,
      path,
      query,
      normalize,
      list: () => listAllPages(page),
      watch: o.watch,
      onChange,
      onResync: o.onResync,
      logger: o.logger,
      relistIntervalMs: o.relistIntervalMs,
      watchdogMs: o.watchdogMs,
      listTimeoutMs: Math.max(o.watchdogMs, 60_000),
      backoff: o.backoff,
      healthyMs: o.backoff.maxMs,
    });

  const identities = new Map<string, Reflector<MutualTLSIdentity>>();
  const secrets = new Map<string, Reflector<Secret>>();
  const namespaces = o.namespaces?.length ? [...new Set(o.namespaces)] : [ALL];
  const managed = { labelSelector: MANAGED_SELECTOR };
  for (const ns of namespaces) {
    const suffix = ns === ALL ? '' : `/${ns}`;
    identities.set(ns, make(`identities${suffix}`, identityPath(ns), {}, toIdentity,
      (limit, cont) => {
        const base = { group: GROUP, version: VERSION, plural: PLURAL, limit, _continue: cont };
        return ns === ALL
          ? o.custom.listClusterCustomObject(base)
          : o.custom.listNamespacedCustomObject({ ...base, namespace: ns });
      },
      (_kind, obj) => o.onIdentity(obj)));
    secrets.set(ns, make(`secrets${suffix}`, secretPath(ns), managed, toSecret,
      (limit, cont) => listSecrets(o.core, ns, managed, limit, cont),
      (_kind, obj) => o.onSecret(obj)));
  }
  // The rotation state ConfigMap lives in the operator namespace, watched even when not listed.
  const configMaps = new Map<string, Reflector<ConfigMap>>();
  const configMapNamespaces = namespaces[0] === ALL ? [ALL] : [...new Set([...namespaces, o.operatorNamespace])];
  for (const ns of configMapNamespaces) {
    const suffix = ns === ALL ? '' : `/${ns}`;
    configMaps.set(ns, make(`configmaps${suffix}`, configMapPath(ns), managed, toConfigMap,
      (limit, cont) => {
        const base = { ...managed, limit, _continue: cont };
        return ns === ALL ? o.core.listConfigMapForAllNamespaces(base) : o.core.listNamespacedConfigMap({ ...base, namespace: ns });
      },
      (_kind, obj) => o.onConfigMap(obj)));
  }
  const caQuery = { fieldSelector: `metadata.name=${o.caSecretName}` };
  const ca = make('ca-secret', secretPath(o.operatorNamespace), caQuery, toSecret,
    (limit, cont) => listSecrets(o.core, o.operatorNamespace, caQuery, limit, cont),
    () => o.onCaSecret());
  return {
    identities,
    secrets,
    configMaps,
    ca,
    all: [...identities.values(), ...secrets.values(), ...configMaps.values(), ca],
  };
}

function listSecrets(
  core: CoreV1Api,
  ns: string,
  selector: { labelSelector?: string; fieldSelector?: string },
  limit: number | undefined,
  cont: string | undefined,
): Promise<unknown> {
  const base = { ...selector, limit, _continue: cont };
  return ns === ALL ? core.listSecretForAllNamespaces(base) : core.listNamespacedSecret({ ...base, namespace: ns });
}

function identityPath(ns: string): string {
  return ns === ALL
    ? `/apis/${GROUP}/${VERSION}/${PLURAL}`
    : `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(ns)}/${PLURAL}`;
}

function secretPath(ns: string): string {
  return ns === ALL ? '/api/v1/secrets' : `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`;
}

function configMapPath(ns: string): string {
  return ns === ALL ? '/api/v1/configmaps' : `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`;
}
