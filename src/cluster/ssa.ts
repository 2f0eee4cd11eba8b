/**
 * What a server-side apply leaves behind, for the in-memory cluster: the fields a manager applied
 * last time and omits now are removed; fields other managers set are kept; the rest is replaced.
 * Modelled per map (labels, annotations, data), which is all the operator applies.
 */
import type { Secret } from '../api/types.ts';

/** The map keys one manager applied to one object. */
export interface AppliedFields {
  labels: string[];
  annotations: string[];
  data: string[];
}

export const NOTHING_APPLIED: AppliedFields = { labels: [], annotations: [], data: [] };

function merge(old: Record<string, string> | undefined, mine: string[], next: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(old ?? {})) if (!mine.includes(name)) out[name] = v;
  return { ...out, ...next };
}

/** The maps after applying `secret` over `prev`, given what this manager applied before. */
export function applyMaps(prev: Secret | undefined, was: AppliedFields, secret: Secret): Pick<Secret, 'data'> & { labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    labels: merge(prev?.metadata.labels, was.labels, secret.metadata.labels),
    annotations: merge(prev?.metadata.annotations, was.annotations, secret.metadata.annotations),
    data: merge(prev?.data, was.data, secret.data),
  };
}

/** What this manager owns after applying `secret`. */
export function appliedFields(secret: Secret): AppliedFields {
  return {
    labels: Object.keys(secret.metadata.labels ?? {}),
    annotations: Object.keys(secret.metadata.annotations ?? {}),
    data: Object.keys(secret.data ?? {}),
  };
}
