/**
 * The cluster port's ConfigMaps (trust bundles and the rotation state): which cache each one lives
 * in, how each write is sent (apply guarded by the resourceVersion read, PUT/POST, create,
 * preconditioned delete), and what of the server's answer is written through to the cache.
 */
import { PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { FIELD_MANAGER, LABEL_MANAGED_BY, MANAGED_BY, TRUST_ROTATION_CONFIGMAP, type ConfigMap } from '../api/types.ts';
import { ClusterError } from '../cluster/port.ts';
import { cachedConfigMap, cachedStateConfigMap, writableConfigMap } from './convert.ts';
import type { KubeApi } from './kube-api.ts';
import { callApi } from './timing.ts';
import { forNamespace, type WatchSet } from './watches.ts';

export interface KubeConfigMapsOptions {
  api: KubeApi;
  watches: WatchSet;
  operatorNamespace: string;
}

export class KubeConfigMaps {
  private readonly api: KubeApi;
  private readonly watches: WatchSet;
  private readonly operatorNamespace: string;

  constructor(opts: KubeConfigMapsOptions) {
    this.api = opts.api;
    this.watches = opts.watches;
    this.operatorNamespace = opts.operatorNamespace;
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.configMapCache(namespace, name)?.get(`${namespace}/${name}`);
  }

  listConfigMaps(): ConfigMap[] {
    return [...this.watches.configMaps.values(), this.watches.rotation].flatMap((r) => r.values());
  }

  /** The cache a ConfigMap of ours lives in: only the two names the operator writes are watched. */
  private isRotationState(namespace: string, name: string): boolean {
    return namespace === this.operatorNamespace && name === TRUST_ROTATION_CONFIGMAP;
  }

  private configMapCache(namespace: string, name: string) {
    if (this.isRotationState(namespace, name)) return this.watches.rotation;
    return forNamespace(this.watches.configMaps, namespace);
  }

  async applyConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { name, namespace = '' } = configMap.metadata;
    const applied = await callApi(`PATCH configmaps/${namespace}/${name}`, this.api.timeoutMs, (o) =>
      this.api.core.patchNamespacedConfigMap(
        { name, namespace, body: withResourceVersion(writableConfigMap(configMap), configMap.metadata.resourceVersion), fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, o),
      ), this.api.write);
    const result = cachedConfigMap(applied);
    const cache = this.configMapCache(namespace, name);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(result);
    else cache?.forget(`${namespace}/${name}`);
    return result;
  }

  async writeConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { name, namespace = '', resourceVersion } = configMap.metadata;
    // writableConfigMap drops resourceVersion (applies are unconditional); here it is the guard.
    const body = { ...writableConfigMap(configMap), metadata: { ...writableConfigMap(configMap).metadata, ...(resourceVersion ? { resourceVersion } : {}) } } as V1ConfigMap;
    const written = resourceVersion
      ? await callApi(`PUT configmaps/${namespace}/${name}`, this.api.timeoutMs, (o) =>
        this.api.core.replaceNamespacedConfigMap({ name, namespace, body, fieldManager: FIELD_MANAGER }, o), this.api.write)
      : await callApi(`POST configmaps/${namespace}/${name}`, this.api.timeoutMs, (o) =>
        this.api.core.createNamespacedConfigMap({ namespace, body, fieldManager: FIELD_MANAGER }, o), this.api.write);
    const result = this.isRotationState(namespace, name) ? cachedStateConfigMap(written) : cachedConfigMap(written);
    const cache = this.configMapCache(namespace, name);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(result);
    return result;
  }

  async createConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { namespace = '', name } = configMap.metadata;
    const created = await callApi(`POST configmaps/${namespace}/${name}`, this.api.timeoutMs, (o) =>
      this.api.core.createNamespacedConfigMap({ namespace, body: writableConfigMap(configMap) as V1ConfigMap, fieldManager: FIELD_MANAGER }, o), this.api.write);
    const result = cachedConfigMap(created);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) this.configMapCache(namespace, name)?.put(result);
    return result;
  }

  async deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE configmaps/${namespace}/${name}`, this.api.timeoutMs, (o) =>
        this.api.core.deleteNamespacedConfigMap({ name, namespace, ...(precondition ? { body: { preconditions: precondition } } : {}) }, o), this.api.write);
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    this.configMapCache(namespace, name)?.forget(`${namespace}/${name}`);
  }
}

/** The apply body with the resourceVersion that was read: a ConfigMap changed since is refused (409). */
function withResourceVersion(cm: ConfigMap, resourceVersion: string | undefined): ConfigMap {
  return resourceVersion ? { ...cm, metadata: { ...cm.metadata, resourceVersion } } : cm;
}
