/**
 * CliClient over @kubernetes/client-node 2.x: the user's kubeconfig (--kubeconfig, else
 * $KUBECONFIG, else ~/.kube/config, else in-cluster), --context, and the context's namespace.
 * Merge patches say so in their Content-Type; every failure becomes a one-line ClusterError.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type V1Secret,
} from '@kubernetes/client-node';
import { toConfigMap, toIdentity, toSecret, writableSecret } from '../adapter/convert.ts';
import { shareDispatcher } from '../adapter/dispatcher.ts';
import { callApi } from '../adapter/timing.ts';
import { GROUP, PLURAL, VERSION, type ConfigMap, type MutualTLSIdentity, type Secret } from '../api/types.ts';
import { ClusterError } from '../cluster/port.ts';
import type { CliClient, EventSummary, IdentityQuery } from './client.ts';

const FIELD_MANAGER = 'kubectl-mtls';
const PAGE = 500;

/** The kubeconfig as kubectl would pick it; throws with a one-line message when unusable. */
export function loadKubeConfig(opts: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`cannot load kubeconfig ${opts.kubeconfig ?? '(default)'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) throw new Error(`context "${opts.context}" is not in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig: set --kubeconfig or --context');
  shareDispatcher(kc); // one connection pool, not one per request (renew --all -A makes many)
  return kc;
}

/** The current context's namespace, else "default". */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

function rfc3339(v: unknown): string {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return typeof v === 'string' ? v : '';
}

export function toEventSummary(e: CoreV1Event): EventSummary {
  return {
    type: e.type ?? '',
    reason: e.reason ?? '',
    message: e.message ?? '',
    count: e.count ?? e.series?.count ?? 1,
    lastSeen: rfc3339(e.lastTimestamp) || rfc3339(e.eventTime) || rfc3339(e.firstTimestamp) || rfc3339(e.metadata?.creationTimestamp),
  };
}

async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (ClusterError.isNotFound(err)) return undefined;
    throw err;
  }
}

export class KubeCliClient implements CliClient {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly timeoutMs: number;
  private readonly server: string;

  constructor(kc: KubeConfig, timeoutMs = 30_000) {
    this.server = kc.getCurrentCluster()?.server ?? '(unknown)';
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.timeoutMs = timeoutMs;
  }

  /** One request; a transport failure names the server (the usual cause: wrong context, no VPN). */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await callApi(op, this.timeoutMs, fn);
    } catch (err) {
      if (err instanceof ClusterError && err.code === 0) throw new ClusterError(0, err.reason, `${err.message} (server ${this.server})`);
      throw err;
    }
  }

  async getIdentity(namespace: string, name: string): Promise<MutualTLSIdentity | undefined> {
    const raw = await orUndefined(this.call<unknown>(`GET ${PLURAL}/${namespace}/${name}`, () =>
      this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })));
    return raw === undefined ? undefined : toIdentity(raw);
  }

  async listIdentities(query: IdentityQuery): Promise<MutualTLSIdentity[]> {
    const out: MutualTLSIdentity[] = [];
    let token: string | undefined;
    const where = query.namespace ? `${query.namespace}/` : '';
    do {
      const base = { group: GROUP, version: VERSION, plural: PLURAL, limit: PAGE,
        ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}), ...(token ? { _continue: token } : {}) };
      const ns = query.namespace;
      const page = (await this.call<unknown>(`LIST ${PLURAL}/${where}`, () =>
        ns ? this.custom.listNamespacedCustomObject({ ...base, namespace: ns }) : this.custom.listClusterCustomObject(base),
      )) as { items?: unknown[]; metadata?: { continue?: string } };
      for (const item of page.items ?? []) out.push(toIdentity(item));
      token = page.metadata?.continue || undefined;
    } while (token);
    return out;
  }

  async patchIdentityAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.call<unknown>(`PATCH ${PLURAL}/${namespace}/${name}`, () =>
      this.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
  }

  async getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    const raw = await orUndefined(this.call(`GET secrets/${namespace}/${name}`, () => this.core.readNamespacedSecret({ namespace, name })));
    return raw === undefined ? undefined : toSecret(raw);
  }

  async createSecret(secret: Secret): Promise<Secret> {
    const { namespace = '', name } = secret.metadata;
    const created = await this.call(`POST secrets/${namespace}/${name}`, () =>
      this.core.createNamespacedSecret({ namespace, body: writableSecret(secret) as V1Secret, fieldManager: FIELD_MANAGER }));
    return toSecret(created);
  }

  async ensureNamespace(name: string, labels: Record<string, string>): Promise<boolean> {
    try {
      await this.call(`POST namespaces/${name}`, () => this.core.createNamespace({ body: { metadata: { name, labels } }, fieldManager: FIELD_MANAGER }));
      return true;
    } catch (err) {
      if (ClusterError.isConflict(err)) return false;
      throw err;
    }
  }

  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.call(`PATCH secrets/${namespace}/${name}`, () =>
      this.core.patchNamespacedSecret(
        { namespace, name, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
  }

  async listEvents(namespace: string, about: { kind: string; name: string }): Promise<EventSummary[]> {
    const fieldSelector = `involvedObject.kind=${about.kind},involvedObject.name=${about.name}`;
    const list = await this.call(`LIST events/${namespace}`, () => this.core.listNamespacedEvent({ namespace, fieldSelector }));
    return (list.items ?? []).map(toEventSummary);
  }

  async getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
    const raw = await orUndefined(this.call(`GET configmaps/${namespace}/${name}`, () => this.core.readNamespacedConfigMap({ namespace, name })));
    return raw === undefined ? undefined : toConfigMap(raw);
  }
}
