/**
 * The cluster port's Secrets: which Secret a read answers from the cache and which from the API,
 * how each Secret write is sent (server-side apply, create, annotation patch, preconditioned
 * delete), and how the server's answer is written through to the cache.
 */
import { PatchStrategy, setHeaderOptions, type V1Secret } from '@kubernetes/client-node';
import { FIELD_MANAGER, LABEL_MANAGED_BY, MANAGED_BY, TLS_CRT, TLS_KEY, type Secret } from '../api/types.ts';
import { ClusterError } from '../cluster/port.ts';
import { cachedSecret, toSecret, writableSecret } from './convert.ts';
import type { KubeApi } from './kube-api.ts';
import { isPartial } from './reduce.ts';
import { callApi } from './timing.ts';
import { forNamespace, type WatchSet } from './watches.ts';

export interface KubeSecretsOptions {
  api: KubeApi;
  watches: WatchSet;
  operatorNamespace: string;
  caSecretName: string;
}

/** Cached Secrets whose key pair was released (releaseKeyPair): their data is not all there is. */
const released = new WeakSet<Secret>();

/** `secret` without tls.crt and tls.key, marked released: wholeSecret reads it from the API server. */
export function withoutKeyPair(secret: Secret): Secret {
  const { [TLS_CRT]: _crt, [TLS_KEY]: _key, ...rest } = secret.data ?? {};
  const slim: Secret = { ...secret, data: rest };
  released.add(slim);
  return slim;
}

export class KubeSecrets {
  private readonly api: KubeApi;
  private readonly watches: WatchSet;
  private readonly opts: KubeSecretsOptions;

  constructor(opts: KubeSecretsOptions) {
    this.opts = opts;
    this.api = opts.api;
    this.watches = opts.watches;
  }

  async getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    const key = `${namespace}/${name}`;
    const cached = (this.isCa(namespace, name) ? this.watches.ca.get(key) : undefined) ??
      forNamespace(this.watches.secrets, namespace)?.get(key);
    // A cached Secret without data (no live identity owned it when it arrived) is read afresh.
    if (cached && !isPartial(cached)) return cached;
    const read = await this.read(namespace, name);
    return read && cached ? this.remember(read) : read;
  }

  /** A Secret from the API server (undefined: 404), not cached. */
  private async read(namespace: string, name: string): Promise<Secret | undefined> {
    try {
      return toSecret(await callApi(`GET secrets/${namespace}/${name}`, this.api.timeoutMs, (o) =>
        this.api.core.readNamespacedSecret({ namespace, name }, o), this.api.read));
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  /**
   * Replace the cached copy of this version by one without tls.crt and tls.key (Cluster.releaseKeyPair). Only a
   * Secret cached whole, at that version: a newer one (the watch got there first) is left as it is.
   */
  releaseKeyPair(namespace: string, name: string, resourceVersion: string): void {
    const key = `${namespace}/${name}`;
    const cache = forNamespace(this.watches.secrets, namespace);
    const cached = cache?.get(key);
    if (!cache || !cached?.data || cached.metadata.resourceVersion !== resourceVersion || isPartial(cached) || released.has(cached)) return;
    if (cached.data[TLS_CRT] === undefined && cached.data[TLS_KEY] === undefined) return;
    cache.put(withoutKeyPair(cached));
  }

  /** The Secret whole: itself, unless its key pair was released from the cache (then a GET, not cached). */
  async wholeSecret(secret: Secret): Promise<Secret | undefined> {
    if (!released.has(secret)) return secret;
    return this.read(secret.metadata.namespace ?? '', secret.metadata.name);
  }

  async applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const fieldManager = options.fieldManager ?? FIELD_MANAGER;
    const applied = await callApi(`PATCH secrets/${namespace}/${name}`, this.api.timeoutMs, (o) =>
      this.api.core.patchNamespacedSecret(
        { name, namespace, body: writableSecret(secret), fieldManager, force: options.force ?? true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, o),
      ), this.api.write);
    return this.remember(toSecret(applied), true);
  }

  async deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE secrets/${namespace}/${name}`, this.api.timeoutMs, (o) =>
        this.api.core.deleteNamespacedSecret({ name, namespace, body: { preconditions: precondition } }, o), this.api.write);
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    forNamespace(this.watches.secrets, namespace)?.forget(`${namespace}/${name}`);
  }

  async createSecret(secret: Secret): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const created = await callApi(`POST secrets/${namespace}/${name}`, this.api.timeoutMs, (o) =>
      this.api.core.createNamespacedSecret({
        namespace,
        // Plain JSON without timestamps: client-node's V1Secret serializer passes it through.
        body: writableSecret(secret) as V1Secret,
        fieldManager: FIELD_MANAGER,
      }, o), this.api.write);
    return this.remember(toSecret(created), true);
  }

  /** Only Secrets a live identity owns: a tenant's labelled Secret counts for nothing (rotation progress). */
  listSecrets(): Secret[] {
    return [...this.watches.secrets.values()].flatMap((r) => r.values()).filter((s) => s.data !== undefined && !isPartial(s));
  }

  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const patched = await callApi(`PATCH secrets/${namespace}/${name}`, this.api.timeoutMs, (o) =>
      this.api.core.patchNamespacedSecret(
        { name, namespace, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o),
      ), this.api.write);
    this.remember(toSecret(patched));
  }

  private isCa(namespace: string, name: string): boolean {
    return namespace === this.opts.operatorNamespace && name === this.opts.caSecretName;
  }

  /**
   * Write-through: the server's answer, reduced as a watch event would be, replaces the cached
   * copy. `ownWrite`: the answer to our own apply/create, whose owner is the identity being
   * reconciled (the reconciler writes only for identities in its cache), so its data is kept.
   */
  private remember(secret: Secret, ownWrite = false): Secret {
    const { namespace = '', name } = secret.metadata;
    if (this.isCa(namespace, name)) this.watches.ca.put(secret);
    const cache = forNamespace(this.watches.secrets, namespace);
    const uidOf = ownWrite ? (_ns: string, _name: string) => secret.metadata.ownerReferences?.find((r) => r.controller)?.uid : this.watches.identityUid;
    if (secret.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(cachedSecret(secret, uidOf));
    else cache?.forget(`${namespace}/${name}`);
    return secret;
  }
}
