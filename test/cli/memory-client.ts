/** An in-memory CliClient for the command tests: objects in maps, every write recorded. */
import type { ConfigMap, MutualTLSIdentity, Secret } from '../../src/api/types.ts';
import { labelSelectorMatcher, type CliClient, type EventSummary, type IdentityQuery } from '../../src/cli/client.ts';
import { ClusterError } from '../../src/cluster/port.ts';

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export interface RecordedCall {
  op: string;
  namespace: string;
  name: string;
  body?: unknown;
}

export class MemoryCliClient implements CliClient {
  readonly identities = new Map<string, MutualTLSIdentity>();
  readonly secrets = new Map<string, Secret>();
  readonly configMaps = new Map<string, ConfigMap>();
  readonly events = new Map<string, (EventSummary & { kind: string; name: string })[]>();
  readonly calls: RecordedCall[] = [];

  addIdentity(identity: MutualTLSIdentity): this {
    this.identities.set(key(identity.metadata.namespace!, identity.metadata.name), structuredClone(identity));
    return this;
  }
  addSecret(secret: Secret): this {
    this.secrets.set(key(secret.metadata.namespace!, secret.metadata.name), structuredClone(secret));
    return this;
  }
  addConfigMap(cm: ConfigMap): this {
    this.configMaps.set(key(cm.metadata.namespace!, cm.metadata.name), structuredClone(cm));
    return this;
  }
  addEvent(namespace: string, about: { kind: string; name: string }, e: EventSummary): this {
    this.events.set(namespace, [...(this.events.get(namespace) ?? []), { ...e, ...about }]);
    return this;
  }
  /** The writes, as "op namespace/name". */
  writes(): string[] {
    return this.calls.map((c) => `${c.op} ${c.namespace}/${c.name}`);
  }

  async getIdentity(namespace: string, name: string): Promise<MutualTLSIdentity | undefined> {
    return structuredClone(this.identities.get(key(namespace, name)));
  }
  async listIdentities(query: IdentityQuery): Promise<MutualTLSIdentity[]> {
    let match: (labels: Record<string, string>) => boolean;
    try {
      match = labelSelectorMatcher(query.labelSelector ?? '');
    } catch (err) {
      throw new ClusterError(400, 'BadRequest', `LIST mutualtlsidentities: 400 Bad Request: ${(err as Error).message}`);
    }
    return [...this.identities.values()]
      .filter((i) => query.namespace === undefined || i.metadata.namespace === query.namespace)
      .filter((i) => match(i.metadata.labels ?? {}))
      .map((i) => structuredClone(i));
  }
  async patchIdentityAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const identity = this.identities.get(key(namespace, name));
    if (!identity) throw new ClusterError(404, 'NotFound', `PATCH mutualtlsidentities/${namespace}/${name}: 404 Not Found`);
    this.calls.push({ op: 'patch-identity', namespace, name, body: annotations });
    identity.metadata.annotations = merge(identity.metadata.annotations, annotations);
  }
  async getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return structuredClone(this.secrets.get(key(namespace, name)));
  }
  async createSecret(secret: Secret): Promise<Secret> {
    const k = key(secret.metadata.namespace!, secret.metadata.name);
    if (this.strictNamespaces && !this.namespaces.has(secret.metadata.namespace!)) {
      throw new ClusterError(404, 'NotFound', `POST secrets/${k}: 404 Not Found: namespaces "${secret.metadata.namespace}" not found`);
    }
    if (this.secrets.has(k)) throw new ClusterError(409, 'AlreadyExists', `POST secrets/${k}: 409 Conflict: secrets "${secret.metadata.name}" already exists`);
    this.calls.push({ op: 'create-secret', namespace: secret.metadata.namespace!, name: secret.metadata.name, body: secret });
    this.secrets.set(k, structuredClone(secret));
    return structuredClone(secret);
  }
  readonly namespaces = new Map<string, Record<string, string>>();
  /** Namespaces must exist before a Secret is created in them (as on a real API server). */
  strictNamespaces = false;
  async ensureNamespace(name: string, labels: Record<string, string>): Promise<boolean> {
    if (this.namespaces.has(name)) return false;
    this.calls.push({ op: 'create-namespace', namespace: '', name, body: labels });
    this.namespaces.set(name, { ...labels });
    return true;
  }
  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const secret = this.secrets.get(key(namespace, name));
    if (!secret) throw new ClusterError(404, 'NotFound', `PATCH secrets/${namespace}/${name}: 404 Not Found`);
    this.calls.push({ op: 'patch-secret', namespace, name, body: annotations });
    secret.metadata.annotations = merge(secret.metadata.annotations, annotations);
  }
  async listEvents(namespace: string, about: { kind: string; name: string }): Promise<EventSummary[]> {
    return (this.events.get(namespace) ?? [])
      .filter((e) => e.kind === about.kind && e.name === about.name)
      .map(({ kind: _k, name: _n, ...e }) => e);
  }
  async getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined> {
    return structuredClone(this.configMaps.get(key(namespace, name)));
  }
}

function merge(have: Record<string, string> | undefined, patch: Record<string, string | null>): Record<string, string> {
  const out = { ...have };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
