/**
 * What a server-side apply does, for the in-memory cluster, per field manager: the fields a
 * manager applied last time and omits now are removed unless another manager also owns them;
 * fields another manager owns with a different value are a conflict (409) without force and are
 * taken over with force; a field set to the value another manager already set is shared.
 * Fields of an object written outside apply (putSecret: another actor's create or update) count
 * as owned by someone else. Modelled per map (labels, annotations, data) plus `type`, which is
 * all the operator applies. applySecret: the whole Secret such an apply leaves (resourceVersion
 * precondition, metadata kept, ownerReferences merged by uid, type immutable).
 */
import { randomUUID } from 'node:crypto';
import type { Secret } from '../api/types.ts';
import { ClusterError } from './port.ts';

/** The map keys one manager applied to one object. */
export interface AppliedFields {
  labels: string[];
  annotations: string[];
  data: string[];
}

/** Field managers of one object and what each owns. */
export type Owners = Map<string, AppliedFields>;

type MapName = keyof AppliedFields;
const MAPS: MapName[] = ['labels', 'annotations', 'data'];

function mapOf(s: Secret | undefined, m: MapName): Record<string, string> | undefined {
  if (!s) return undefined;
  return m === 'data' ? s.data : s.metadata[m];
}

/** What this manager owns after applying `secret`. */
export function appliedFields(secret: Secret): AppliedFields {
  return {
    labels: Object.keys(secret.metadata.labels ?? {}),
    annotations: Object.keys(secret.metadata.annotations ?? {}),
    data: Object.keys(secret.data ?? {}),
  };
}

export type ApplyOutcome =
  | { ok: true; labels: Record<string, string>; annotations: Record<string, string>; data: Record<string, string>; owners: Owners }
  | { ok: false; conflicts: string[] };

/**
 * Apply `secret` as `manager` over `prev` (owned as `owners` says). Without force, a field that
 * exists with another value and is not this manager's is a conflict.
 */
export function apply(prev: Secret | undefined, owners: Owners, manager: string, secret: Secret, force: boolean): ApplyOutcome {
  const mine = owners.get(manager) ?? { labels: [], annotations: [], data: [] };
  const conflicts: string[] = [];
  if (prev && secret.type !== undefined && prev.type !== secret.type) conflicts.push('.type');
  for (const m of MAPS) {
    const have = mapOf(prev, m) ?? {};
    for (const [k, v] of Object.entries(mapOf(secret, m) ?? {})) {
      if (have[k] !== undefined && have[k] !== v && !mine[m].includes(k)) conflicts.push(`.${m}.${k}`);
    }
  }
  if (conflicts.length > 0 && !force) return { ok: false, conflicts };
  const next = appliedFields(secret);
  const nextOwners: Owners = new Map();
  for (const [other, fields] of owners) {
    if (other === manager) continue;
    // Forced: a field set to another value is taken from its other owners.
    const kept = Object.fromEntries(MAPS.map((m) => [m, fields[m].filter((k) => {
      const wanted = mapOf(secret, m)?.[k];
      return wanted === undefined || wanted === mapOf(prev, m)?.[k];
    })])) as unknown as AppliedFields;
    nextOwners.set(other, kept);
  }
  nextOwners.set(manager, next);
  const out = {} as Record<MapName, Record<string, string>>;
  for (const m of MAPS) {
    const result: Record<string, string> = { ...(mapOf(prev, m) ?? {}) };
    for (const k of mine[m]) {
      if (next[m].includes(k)) continue;
      const ownedElsewhere = [...nextOwners].some(([o, f]) => o !== manager && f[m].includes(k));
      if (!ownedElsewhere) delete result[k];
    }
    Object.assign(result, mapOf(secret, m) ?? {});
    out[m] = result;
  }
  // A manager left owning nothing is dropped from managedFields, as the API server does.
  for (const [m, f] of nextOwners) if (MAPS.every((k) => f[k].length === 0)) nextOwners.delete(m);
  return { ok: true, ...out, owners: nextOwners };
}

/**
 * The Secret a server-side apply of `secret` as `manager` leaves over `prev`, and the fields each
 * manager owns after it; refused (409) when the resourceVersion given is not the current one or a
 * field conflicts without force, and (422) when it changes the type. `nextResourceVersion` is
 * called once the apply is accepted, before the type check, as the counter moved before.
 */
export function applySecret(
  prev: Secret | undefined,
  owners: Owners,
  manager: string,
  secret: Secret,
  force: boolean,
  nextResourceVersion: () => string,
): { next: Secret; owners: Owners } {
  const k = `${secret.metadata.namespace ?? ''}/${secret.metadata.name}`;
  const rv = secret.metadata.resourceVersion;
  if (rv !== undefined && rv !== prev?.metadata.resourceVersion) {
    throw new ClusterError(409, 'Conflict', `Operation cannot be fulfilled on secrets "${secret.metadata.name}": the object has been modified`);
  }
  const out = apply(prev, owners, manager, secret, force);
  if (!out.ok) throw new ClusterError(409, 'Conflict', `Apply failed with ${out.conflicts.length} conflicts: ${out.conflicts.join(', ')}`);
  const next: Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: secret.type ?? prev?.type ?? 'Opaque',
    metadata: {
      ...(prev ? structuredClone(prev.metadata) : { uid: randomUUID(), creationTimestamp: new Date().toISOString() }),
      name: secret.metadata.name,
      namespace: secret.metadata.namespace!,
      labels: out.labels,
      annotations: out.annotations,
      ownerReferences: mergeOwnerReferences(prev?.metadata.ownerReferences, secret.metadata.ownerReferences),
      resourceVersion: nextResourceVersion(),
    },
    data: out.data,
  };
  if (prev && prev.type !== next.type) throw new ClusterError(422, 'Invalid', `Secret ${k}: field is immutable: type`);
  return { next, owners: out.owners };
}

/**
 * ownerReferences is a list keyed by uid under server-side apply: entries of other owners stay,
 * an entry with the same uid is replaced. (The operator never removes one by apply.)
 */
function mergeOwnerReferences(prev: Secret['metadata']['ownerReferences'], mine: Secret['metadata']['ownerReferences']): NonNullable<Secret['metadata']['ownerReferences']> {
  const out = (prev ?? []).filter((r) => !(mine ?? []).some((m) => m.uid === r.uid)).map((r) => structuredClone(r));
  return [...out, ...structuredClone(mine ?? [])];
}
