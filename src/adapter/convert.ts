/**
 * Conversions between client-node objects and the port's plain types.
 *
 * The typed client-node calls deserialize into model classes (timestamps become Date objects),
 * while watch events and custom-object calls hand back raw JSON (timestamps are strings). Every
 * object that reaches a cache or a caller goes through here, so both paths look the same.
 */
import {
  API_VERSION,
  KIND,
  type ConfigMap,
  type MutualTLSIdentity,
  type ObjectMeta,
  type OwnerReference,
  type Secret,
} from '../api/types.ts';
import { intern, internArray, internFields } from './intern.ts';
import { boundedMeta, reduceData, reduceSecret, STATE_CONFIGMAP_MAX_KEYS, type IdentityUid } from './reduce.ts';

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** metav1.Time: RFC 3339 at second precision, whether the input is a Date or a string. */
function time(v: unknown): string | undefined {
  if (v instanceof Date) {
    return Number.isNaN(v.getTime()) ? undefined : v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return str(v);
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * Drop undefined fields so objects compare and serialize cleanly. A new object rather than `delete`: V8 turns an
 * object a property was deleted from into a dictionary (~400 bytes more each; 10,000 cached Secrets held 4 MB of
 * them in a heap snapshot).
 */
function compact<T extends object>(obj: T): T {
  const keys = Object.keys(obj) as (keyof T)[];
  if (keys.every((k) => obj[k] !== undefined)) return obj;
  const out = {} as T;
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

function ownerRefs(v: unknown): OwnerReference[] | undefined {
  if (!Array.isArray(v)) return undefined;
  return v.filter(isRecord).map((r) =>
    compact({
      apiVersion: str(r.apiVersion) ?? '',
      kind: str(r.kind) ?? '',
      name: str(r.name) ?? '',
      uid: str(r.uid) ?? '',
      controller: typeof r.controller === 'boolean' ? r.controller : undefined,
      blockOwnerDeletion: typeof r.blockOwnerDeletion === 'boolean' ? r.blockOwnerDeletion : undefined,
    }),
  );
}

export function toMeta(v: unknown): ObjectMeta {
  const m = isRecord(v) ? v : {};
  return compact({
    name: str(m.name) ?? '',
    namespace: str(m.namespace),
    uid: str(m.uid),
    generation: typeof m.generation === 'number' ? m.generation : undefined,
    resourceVersion: str(m.resourceVersion),
    creationTimestamp: time(m.creationTimestamp),
    deletionTimestamp: time(m.deletionTimestamp),
    labels: stringMap(m.labels),
    annotations: stringMap(m.annotations),
    ownerReferences: ownerRefs(m.ownerReferences),
  });
}

/** A core/v1 Secret (client-node V1Secret or watch JSON) as the port's Secret. */
export function toSecret(v: unknown): Secret {
  const s = isRecord(v) ? v : {};
  return compact({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: toMeta(s.metadata),
    type: str(s.type),
    data: stringMap(s.data),
  });
}

/** A core/v1 ConfigMap (client-node V1ConfigMap or watch JSON) as the port's ConfigMap; binaryData is dropped. */
export function toConfigMap(v: unknown): ConfigMap {
  const c = isRecord(v) ? v : {};
  return compact({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: toMeta(c.metadata),
    data: stringMap(c.data),
  });
}

/** A MutualTLSIdentity from raw JSON; managedFields are dropped (never read, costly to keep). */
export function toIdentity(v: unknown): MutualTLSIdentity {
  const o = isRecord(v) ? v : {};
  const { managedFields: _dropped, ...meta } = isRecord(o.metadata) ? o.metadata : {};
  return {
    ...(o as object),
    apiVersion: str(o.apiVersion) ?? API_VERSION,
    kind: str(o.kind) ?? KIND,
    metadata: meta as unknown as ObjectMeta,
  } as MutualTLSIdentity;
}

/** An identity as the cache keeps it: metadata bounded (reduce.ts); the spec is bounded by the CRD. */
export function cachedIdentity(v: unknown): MutualTLSIdentity {
  const id = toIdentity(v);
  const m = id.metadata as ObjectMeta & Raw;
  const labels = stringMap(m.labels);
  const annotations = stringMap(m.annotations);
  id.metadata = boundedMeta(compact({ ...m, labels, annotations }));
  // The values every identity repeats, one copy each (intern.ts).
  id.apiVersion = intern(id.apiVersion);
  id.kind = intern(id.kind);
  const status = id.status;
  if (isRecord(status)) {
    internFields(status, ['notBefore', 'notAfter', 'renewalTime', 'lastFailureTime', 'workloadsTrustBundle']);
    if (Array.isArray(status.conditions)) {
      for (const c of status.conditions) if (isRecord(c)) internFields(c, ['type', 'status', 'reason', 'message', 'lastTransitionTime']);
    }
  }
  if (isRecord(id.spec)) internArray(id.spec.usages);
  return id;
}

/** A labelled Secret as the cache keeps it: data only when a live identity owns it (reduce.ts). */
export function cachedSecret(v: unknown, uidOf: IdentityUid): Secret {
  return reduceSecret(toSecret(v), uidOf);
}

/** A ConfigMap as the cache keeps it: bounded metadata and a few bounded entries (reduce.ts). */
export function cachedConfigMap(v: unknown, maxKeys?: number): ConfigMap {
  const cm = toConfigMap(v);
  return compact({ ...cm, metadata: boundedMeta(cm.metadata), data: reduceData(cm.data, maxKeys) });
}

/** The rotation state ConfigMap as cached: every key it records (each value still bounded). */
export const cachedStateConfigMap = (v: unknown): ConfigMap => cachedConfigMap(v, STATE_CONFIGMAP_MAX_KEYS);

/**
 * The body of a write (apply or create): the whole desired Secret, without the fields the
 * server owns. resourceVersion is kept only when the caller set it: in an apply it is a
 * precondition (409 if the Secret changed since it was read), which the reconciler wants.
 */
export function writableSecret(secret: Secret): Secret {
  const m = secret.metadata;
  return compact({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: compact({
      name: m.name,
      namespace: m.namespace,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
      annotations: m.annotations,
      ownerReferences: m.ownerReferences,
    }),
    type: secret.type,
    data: secret.data,
  });
}

/**
 * The body of a ConfigMap server-side apply: the whole desired object, without server fields.
 * No resourceVersion: the operator owns its ConfigMaps outright and applies them unconditionally.
 */
export function writableConfigMap(configMap: ConfigMap): ConfigMap {
  const m = configMap.metadata;
  return compact({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: compact({
      name: m.name,
      namespace: m.namespace,
      labels: m.labels,
      annotations: m.annotations,
      ownerReferences: m.ownerReferences,
    }),
    data: configMap.data,
  });
}

/**
 * Whether resourceVersion `a` is strictly older than `b`. resourceVersions are opaque, but
 * every apiserver serves etcd revisions (decimal integers); anything else compares as "not older".
 */
export function isOlder(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}
