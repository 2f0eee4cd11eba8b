/** metav1.Condition handling: lastTransitionTime moves only when a condition's status changes. */
import type { Condition, ConditionStatus, MutualTLSIdentityStatus } from '../api/types.ts';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  generation: number,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    observedGeneration: generation,
    lastTransitionTime:
      prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString(),
  };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

export function getCondition(
  status: MutualTLSIdentityStatus | undefined,
  type: string,
): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** Deep equality of two plain JSON values (status objects). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
