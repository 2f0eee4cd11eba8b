/**
 * The staged root rotation, as a pure phase machine (SPIRE's "prepare, activate, retire"):
 *   Prepared  the new root is in every trust bundle; the old root still signs. Held until every
 *             bundle copy carries both roots, plus a propagation delay (kubelet refreshes
 *             mounted Secrets lazily).
 *   Active    the new CA signs; every leaf is re-issued (rate-limited elsewhere).
 *   Retired   every leaf is on the new CA and every old leaf has expired (plus skew): the old
 *             root leaves the bundles.
 *   Aborted   stopped before Active: the bundles go back to the old root alone.
 * The state lives in a ConfigMap, so any replica resumes from it after a crash or restart.
 */
export type RotationPhase = 'Prepared' | 'Active' | 'Retired' | 'Aborted';

export interface RotationState {
  phase: RotationPhase;
  /** The request (the CA Secret's rotate-to annotation) this rotation carries out. */
  request: string;
  /** When this phase began. */
  since: string;
  /** Secret (operator namespace) holding the new CA. */
  newRootSecret: string;
  newRootFingerprint: string;
  oldRootFingerprint: string;
  /** Prepared: when every bundle copy was first seen carrying both roots. */
  bundlesUpdatedAt?: string;
  /** Active: the old root may leave the bundles after this (last old leaf's expiry + skew). */
  retireAfter?: string;
  /** Retired/Aborted: the request annotations were removed from the CA Secret. */
  requestCleared?: boolean;
  /** Progress, for people: copies or leaves done, of how many. */
  done: number;
  total: number;
  message: string;
}

export interface RotationView {
  now: Date;
  state: RotationState | undefined;
  /** The CA Secret's rotate-to annotation, if any. */
  requested: string | undefined;
  abortRequested: boolean;
  /** Copies of the trust bundle (issued Secrets' ca.crt, bundle ConfigMaps) and how many are current. */
  bundles: { total: number; current: number };
  /** Issued leaves, how many the new CA signed, and the latest expiry of the others. */
  leaves: { total: number; onNewCA: number; oldMaxNotAfter?: Date };
  propagationDelayMs: number;
  skewMs: number;
}

export type RotationStep =
  | { kind: 'none' }
  /** Prepare the requested CA, then persist `Prepared`. */
  | { kind: 'start'; request: string }
  /** Persist this state (progress or a transition). */
  | { kind: 'write'; state: RotationState; transition?: RotationPhase }
  /** Make the new CA the CA Secret, then persist Retired. */
  | { kind: 'retire'; state: RotationState }
  /** Remove the carried-out request annotations from the CA Secret. */
  | { kind: 'clearRequest' };

export function isRunning(state: RotationState | undefined): boolean {
  return state?.phase === 'Prepared' || state?.phase === 'Active';
}

function later(a: string | undefined, b: Date): string {
  return a && new Date(a).getTime() >= b.getTime() ? a : b.toISOString();
}

function progress(state: RotationState, done: number, total: number, message: string): RotationStep {
  if (state.done === done && state.total === total && state.message === message) return { kind: 'none' };
  return { kind: 'write', state: { ...state, done, total, message } };
}

export function nextRotationStep(v: RotationView): RotationStep {
  const s = v.state;
  const now = v.now.getTime();
  if (!isRunning(s)) {
    if (v.requested === undefined) return { kind: 'none' };
    // A finished rotation whose request annotation is still there: clear it, do not restart.
    if (s && !s.requestCleared && s.request === v.requested) return { kind: 'clearRequest' };
    return { kind: 'start', request: v.requested };
  }
  const state = s!;
  if (state.phase === 'Prepared') {
    if (v.abortRequested) {
      return { kind: 'write', transition: 'Aborted', state: { ...state, phase: 'Aborted', since: v.now.toISOString(), message: 'aborted before Active: the old root alone is trusted again' } };
    }
    const { total, current } = v.bundles;
    if (current < total) {
      const message = `${current} of ${total} trust bundle copies carry the new root`;
      if (!state.bundlesUpdatedAt) return progress(state, current, total, message);
      const { bundlesUpdatedAt: _dropped, ...rest } = state; // a new copy appeared: wait again
      return { kind: 'write', state: { ...rest, done: current, total, message } };
    }
    if (!state.bundlesUpdatedAt) {
      return { kind: 'write', state: { ...state, bundlesUpdatedAt: v.now.toISOString(), done: current, total, message: `every trust bundle copy carries the new root; activating after ${Math.round(v.propagationDelayMs / 1000)}s for kubelets to refresh mounts` } };
    }
    if (now < new Date(state.bundlesUpdatedAt).getTime() + v.propagationDelayMs) {
      return progress(state, current, total, state.message);
    }
    const retire = new Date((v.leaves.oldMaxNotAfter?.getTime() ?? now) + v.skewMs);
    return { kind: 'write', transition: 'Active', state: { ...state, phase: 'Active', since: v.now.toISOString(), retireAfter: retire.toISOString(), done: v.leaves.onNewCA, total: v.leaves.total, message: 'the new CA signs; re-issuing every leaf' } };
  }
  // Active
  const retireAfter = v.leaves.oldMaxNotAfter
    ? later(state.retireAfter, new Date(v.leaves.oldMaxNotAfter.getTime() + v.skewMs))
    : (state.retireAfter ?? v.now.toISOString());
  const { total, onNewCA } = v.leaves;
  if (onNewCA >= total && now >= new Date(retireAfter).getTime()) {
    return { kind: 'retire', state: { ...state, phase: 'Retired', since: v.now.toISOString(), retireAfter, done: total, total, message: 'every leaf is on the new CA and every old leaf has expired: the old root left the bundles' } };
  }
  const message = onNewCA < total
    ? `${onNewCA} of ${total} leaves re-issued by the new CA${v.abortRequested ? ' (abort ignored: the new CA is already signing)' : ''}`
    : `every leaf re-issued; the old root leaves the bundles at ${retireAfter}`;
  if (retireAfter !== state.retireAfter) return { kind: 'write', state: { ...state, retireAfter, done: onNewCA, total, message } };
  return progress(state, onNewCA, total, message);
}

/** ConfigMap data <-> state. */
export function rotationFromData(data: Record<string, string> | undefined): RotationState | undefined {
  if (!data?.phase) return undefined;
  const phase = data.phase as RotationPhase;
  if (!['Prepared', 'Active', 'Retired', 'Aborted'].includes(phase)) return undefined;
  return {
    phase,
    request: data.request ?? '',
    since: data.since ?? '',
    newRootSecret: data.newRootSecret ?? '',
    newRootFingerprint: data.newRootFingerprint ?? '',
    oldRootFingerprint: data.oldRootFingerprint ?? '',
    ...(data.bundlesUpdatedAt ? { bundlesUpdatedAt: data.bundlesUpdatedAt } : {}),
    ...(data.retireAfter ? { retireAfter: data.retireAfter } : {}),
    ...(data.requestCleared === 'true' ? { requestCleared: true } : {}),
    done: Number(data.done ?? data.reissued ?? 0) || 0,
    total: Number(data.total ?? 0) || 0,
    message: data.message ?? '',
  };
}

export function rotationToData(s: RotationState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) if (v !== undefined) out[k] = String(v);
  return out;
}
