/**
 * The adapter's five kinds of watch, each a supervised reflector (reflector.ts):
 *   identities: mutualtlsidentities.mtls.dev, all namespaces or one watch per listed namespace;
 *   secrets:    Secrets labeled app.kubernetes.io/managed-by=mtls-operator, never every Secret,
 *               reduced on arrival (reduce.ts): data only for Secrets a live identity owns;
 *   configmaps: the trust bundle ConfigMaps, by fieldSelector metadata.name=mtls-trust-bundle and
 *               the label, all namespaces or one watch per listed namespace;
 *   rotation:   the rotation state ConfigMap, by name and label, in the operator namespace;
 *   ca-secret:  the CA Secret, by fieldSelector metadata.name, in the operator namespace.
 *
 * Only what the operator can own is listed: a tenant's labelled ConfigMap of any other name never
 * reaches the process, and list pages of Secrets and ConfigMaps are small (paging.ts) so that one
 * page of 1 MB objects stays a few tens of MB before reduction.
 */
import type { CoreV1Api, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import {
  GROUP,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  PLURAL,
  VERSION,
  type ConfigMap,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_ROTATION_CONFIGMAP,
  type MutualTLSIdentity,
  type Secret,
} from '../api/types.ts';
import type { BackoffOptions } from './backoff.ts';
import { cachedConfigMap, cachedStateConfigMap, cachedIdentity, cachedSecret, toSecret } from './convert.ts';
import { IDENTITY_PAGE_SIZE, SMALL_PAGE_SIZE, streamPages, type PageFn } from './paging.ts';
import { isPartial, type IdentityUid } from './reduce.ts';
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
  /** How often every cached object is handed to the controller again (from the cache: no list). */
  resyncIntervalMs: number;
  watchdogMs: number;
  backoff: BackoffOptions;
  onIdentity(obj: MutualTLSIdentity): void;
  onSecret(obj: Secret): void;
  onConfigMap(obj: ConfigMap): void;
  onCaSecret(): void;
  onResync(): void;
  /** What the cache keeps of a Secret it keeps with data (ClusterHandlers.issuedSecretArrived); default: itself. */
  keepSecret?(secret: Secret): Secret;
}

export interface WatchSet {
  identities: Map<string, Reflector<MutualTLSIdentity>>;
  secrets: Map<string, Reflector<Secret>>;
  /** Trust bundle ConfigMaps, keyed like the others. */
  configMaps: Map<string, Reflector<ConfigMap>>;
  /** The rotation state ConfigMap in the operator namespace. */
  rotation: Reflector<ConfigMap>;
  ca: Reflector<Secret>;
  /** The uid of a cached identity (what the Secret reduction checks ownership against). */
  identityUid: IdentityUid;
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
    pageSize = SMALL_PAGE_SIZE,
    resync = false,
    skipEchoes = false,
    keep?: (obj: T) => T,
  ): Reflector<T> =>
    new Reflector<T>({
      name,
      path,
      query,
      normalize,
      list: (onItems) => streamPages(page, pageSize, onItems),
      watch: o.watch,
      onChange,
      onResync: o.onResync,
      logger: o.logger,
      // One periodic resync is enough (it re-queues everything): the identities' watches give it.
      ...(resync ? { resyncIntervalMs: o.resyncIntervalMs } : {}),
      watchdogMs: o.watchdogMs,
      listTimeoutMs: Math.max(o.watchdogMs, 60_000),
      backoff: o.backoff,
      healthyMs: o.backoff.maxMs,
      skipEchoes,
      ...(keep ? { keep } : {}),
    });

  const identities = new Map<string, Reflector<MutualTLSIdentity>>();
  const secrets = new Map<string, Reflector<Secret>>();
  const namespaces = o.namespaces?.length ? [...new Set(o.namespaces)] : [ALL];
  const managed = { labelSelector: MANAGED_SELECTOR };
  const identityUid: IdentityUid = (ns, name) =>
    forNamespace(identities, ns)?.get(`${ns}/${name}`)?.metadata.uid;
  const toCachedSecret = (raw: unknown): Secret => cachedSecret(raw, identityUid);
  const keepSecret = o.keepSecret;
  const keptSecret = keepSecret && ((s: Secret): Secret => (s.data !== undefined && !isPartial(s) ? keepSecret(s) : s));
  for (const ns of namespaces) {
    const suffix = ns === ALL ? '' : `/${ns}`;
    identities.set(ns, make(`identities${suffix}`, identityPath(ns), {}, cachedIdentity,
      (limit, cont) => {
        const base = { group: GROUP, version: VERSION, plural: PLURAL, limit, _continue: cont };
        return ns === ALL
          ? o.custom.listClusterCustomObject(base)
          : o.custom.listNamespacedCustomObject({ ...base, namespace: ns });
      },
      (_kind, obj) => o.onIdentity(obj), IDENTITY_PAGE_SIZE, true));
    secrets.set(ns, make(`secrets${suffix}`, secretPath(ns), managed, toCachedSecret,
      (limit, cont) => listSecrets(o.core, ns, managed, limit, cont),
      // The echo of the operator's own Secret write is not work: without this, every issuance ran a second reconcile.
      (_kind, obj) => o.onSecret(obj), SMALL_PAGE_SIZE, false, true, keptSecret));
  }
  // Trust bundles by name (and label): a labelled ConfigMap of any other name is never listed.
  const configMaps = new Map<string, Reflector<ConfigMap>>();
  const bundles = { ...managed, fieldSelector: `metadata.name=${TRUST_BUNDLE_CONFIGMAP}` };
  for (const ns of namespaces) {
    const suffix = ns === ALL ? '' : `/${ns}`;
    configMaps.set(ns, make(`configmaps${suffix}`, configMapPath(ns), bundles, cachedConfigMap,
      (limit, cont) => listConfigMaps(o.core, ns, bundles, limit, cont),
      (_kind, obj) => o.onConfigMap(obj)));
  }
  const rotationQuery = { ...managed, fieldSelector: `metadata.name=${TRUST_ROTATION_CONFIGMAP}` };
  const rotation = make('rotation-state', configMapPath(o.operatorNamespace), rotationQuery, cachedStateConfigMap,
    (limit, cont) => listConfigMaps(o.core, o.operatorNamespace, rotationQuery, limit, cont),
    (_kind, obj) => o.onConfigMap(obj));
  const caQuery = { fieldSelector: `metadata.name=${o.caSecretName}` };
  const ca = make('ca-secret', secretPath(o.operatorNamespace), caQuery, toSecret,
    (limit, cont) => listSecrets(o.core, o.operatorNamespace, caQuery, limit, cont),
    () => o.onCaSecret());
  return {
    identities,
    secrets,
    configMaps,
    rotation,
    ca,
    identityUid,
    all: [...identities.values(), ...secrets.values(), ...configMaps.values(), rotation, ca],
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

function listConfigMaps(
  core: CoreV1Api,
  ns: string,
  selector: { labelSelector?: string; fieldSelector?: string },
  limit: number | undefined,
  cont: string | undefined,
): Promise<unknown> {
  const base = { ...selector, limit, _continue: cont };
  return ns === ALL ? core.listConfigMapForAllNamespaces(base) : core.listNamespacedConfigMap({ ...base, namespace: ns });
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
