/**
 * The staged root rotation, as a pure phase machine (SPIRE's "prepare, activate, retire"):
 *   Prepared  the new root is in every trust bundle; the old root still signs. Held until every
 *             bundle copy carries both roots, plus a propagation delay (kubelet refreshes
 *             mounted Secrets lazily).
 *   Active    the new CA signs; every leaf is re-issued (rate-limited elsewhere).
 *   Retired   every leaf is on the new CA and every old leaf has expired (plus skew): the old
 *             root leaves the bundles.
 *   Aborted   stopped before Active: the bundles go back to the old root alone.
 * The state lives in a ConfigMap, so any replica resumes from it after a crash or restart. The
 * state, not the health of the CA Secrets, decides what is trusted (the old and new bundles are
 * recorded in it) and who signs (the old CA while Prepared, the new one once Active).
 *
 * An unstaged rotation is a CA Secret replaced in place: it starts Active (the new CA already
 * signs) and keeps the old roots in every bundle like a staged one.
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
  /** The trust bundle before the rotation, and the new CA's: the bundle is both while running. */
  oldBundlePem?: string;
  newBundlePem?: string;
  /** Roots the admin kept in the old CA Secret's ca.crt besides the old root: they stay after Retired. */
  keptRootsPem?: string;
  /** The CA Secret was replaced in place: no Prepared phase, nothing to promote. */
  unstaged?: boolean;
  /** Identities that cannot be re-issued (namespace/name), comma-separated. */
  blocked?: string;
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
  /** The CA Secret's rotation-done annotation: the `since` of the rotation whose request was cleared. */
  clearedRotation?: string | undefined;
  /** Active: drop the old root at once (the distrust annotation names it: compromised). */
  distrustOld?: boolean;
  /** When the old root (or the old chain) expires: after it, keeping it trusted is pointless. */
  oldRootNotAfter?: Date | undefined;
  /** Identities whose certificates cannot be re-issued now; they are left out of the counts. */
  blocked?: string[];
  /** Copies of the trust bundle (issued Secrets' ca.crt, bundle ConfigMaps) and how many are current. */
  bundles: { total: number; current: number };
  /**
   * Issued leaves (of identities that can be re-issued), how many the new CA signed, and the
   * latest expiry of all the others (blocked identities' too: they hold the old root only until
   * their certificates expire).
   */
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

function blockedNote(blocked: string[] | undefined): string {
  if (!blocked || blocked.length === 0) return '';
  const shown = blocked.slice(0, 5).join(', ') + (blocked.length > 5 ? ` and ${blocked.length - 5} more` : '');
  return `; ${blocked.length} identit${blocked.length === 1 ? 'y' : 'ies'} cannot be re-issued (${shown}): not waited for, their old certificates keep the old root trusted until they expire`;
}

function blockedField(blocked: string[] | undefined): { blocked?: string } {
  return blocked && blocked.length > 0 ? { blocked: blocked.join(',') } : {};
}

function withBlocked(state: RotationState, blocked: string[] | undefined): RotationState {
  const { blocked: _old, ...rest } = state;
  return { ...rest, ...blockedField(blocked) };
}

function progress(state: RotationState, done: number, total: number, message: string, blocked: string[] | undefined): RotationStep {
  const next = withBlocked({ ...state, done, total, message }, blocked);
  if (state.done === done && state.total === total && state.message === message && state.blocked === next.blocked) return { kind: 'none' };
  return { kind: 'write', state: next };
}

export function nextRotationStep(v: RotationView): RotationStep {
  const s = v.state;
  const now = v.now.getTime();
  const note = blockedNote(v.blocked);
  if (!isRunning(s)) {
    if (v.requested === undefined) return { kind: 'none' };
    // A finished rotation whose request annotation is still there: clear it, do not restart. Once
    // the annotations were cleared (the done marker names this rotation), a request is new.
    if (s && !s.requestCleared && s.request === v.requested && v.clearedRotation !== s.since) return { kind: 'clearRequest' };
    return { kind: 'start', request: v.requested };
  }
  const state = s!;
  if (state.phase === 'Prepared') {
    if (v.abortRequested) {
      return { kind: 'write', transition: 'Aborted', state: { ...state, phase: 'Aborted', since: v.now.toISOString(), message: 'aborted before Active: the old root alone is trusted again' } };
    }
    const { total, current } = v.bundles;
    if (current < total) {
      const message = `${current} of ${total} trust bundle copies carry the new root${note}`;
      if (!state.bundlesUpdatedAt) return progress(state, current, total, message, v.blocked);
      const { bundlesUpdatedAt: _dropped, ...rest } = state; // a new copy appeared: wait again
      return { kind: 'write', state: withBlocked({ ...rest, done: current, total, message }, v.blocked) };
    }
    if (!state.bundlesUpdatedAt) {
      return { kind: 'write', state: withBlocked({ ...state, bundlesUpdatedAt: v.now.toISOString(), done: current, total, message: `every trust bundle copy carries the new root; activating after ${Math.round(v.propagationDelayMs / 1000)}s for kubelets to refresh mounts${note}` }, v.blocked) };
    }
    if (now < new Date(state.bundlesUpdatedAt).getTime() + v.propagationDelayMs) {
      return progress(state, current, total, state.message, v.blocked);
    }
    const retire = new Date((v.leaves.oldMaxNotAfter?.getTime() ?? now) + v.skewMs);
    return { kind: 'write', transition: 'Active', state: withBlocked({ ...state, phase: 'Active', since: v.now.toISOString(), retireAfter: retire.toISOString(), done: v.leaves.onNewCA, total: v.leaves.total, message: `the new CA signs; re-issuing every leaf${note}` }, v.blocked) };
  }
  // Active
  const retireAfter = v.leaves.oldMaxNotAfter
    ? later(state.retireAfter, new Date(v.leaves.oldMaxNotAfter.getTime() + v.skewMs))
    : (state.retireAfter ?? v.now.toISOString());
  const { total, onNewCA } = v.leaves;
  const retired = (message: string): RotationStep =>
    ({ kind: 'retire', state: withBlocked({ ...state, phase: 'Retired', since: v.now.toISOString(), retireAfter, done: onNewCA, total, message }, v.blocked) });
  if (v.distrustOld) return retired('the old root was distrusted by annotation: it left the bundles at once');
  if (v.oldRootNotAfter && now >= v.oldRootNotAfter.getTime()) return retired(`the old root expired at ${v.oldRootNotAfter.toISOString()}: it left the bundles`);
  if (onNewCA >= total && now >= new Date(retireAfter).getTime()) {
    return retired('every leaf is on the new CA and every old leaf has expired: the old root left the bundles');
  }
  const message = onNewCA < total
    ? `${onNewCA} of ${total} leaves re-issued by the new CA${v.abortRequested ? ' (abort ignored: the new CA is already signing)' : ''}${note}`
    : `every leaf re-issued; the old root leaves the bundles at ${retireAfter}${note}`;
  if (retireAfter !== state.retireAfter) return { kind: 'write', state: withBlocked({ ...state, retireAfter, done: onNewCA, total, message }, v.blocked) };
  return progress(state, onNewCA, total, message, v.blocked);
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
    ...(data.oldBundlePem ? { oldBundlePem: data.oldBundlePem } : {}),
    ...(data.newBundlePem ? { newBundlePem: data.newBundlePem } : {}),
    ...(data.keptRootsPem ? { keptRootsPem: data.keptRootsPem } : {}),
    ...(data.unstaged === 'true' ? { unstaged: true } : {}),
    ...(data.blocked ? { blocked: data.blocked } : {}),
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

/**
 * Everything the state ConfigMap holds: the rotation, and the CA the operator trusts outside a
 * rotation (so a CA Secret that disappears is never answered with a new root, and one replaced
 * in place keeps the old root trusted).
 */
export interface TrustRecord {
  rotation: RotationState | undefined;
  /** Fingerprint and trust bundle of the CA in use when no rotation runs. */
  caFingerprint?: string;
  caBundlePem?: string;
  /** Every CA fingerprint the operator has used, oldest first. */
  seen: string[];
  /** The last refused request, `<request>: <why>`. */
  refused?: string;
}

export function recordFromData(data: Record<string, string> | undefined): TrustRecord {
  return {
    rotation: rotationFromData(data),
    ...(data?.caFingerprint ? { caFingerprint: data.caFingerprint } : {}),
    ...(data?.caBundlePem ? { caBundlePem: data.caBundlePem } : {}),
    seen: data?.seen ? data.seen.split(',').filter(Boolean) : [],
    ...(data?.refused ? { refused: data.refused } : {}),
  };
}

export function recordToData(r: TrustRecord): Record<string, string> {
  const out: Record<string, string> = r.rotation ? rotationToData(r.rotation) : {};
  if (r.caFingerprint) out.caFingerprint = r.caFingerprint;
  if (r.caBundlePem) out.caBundlePem = r.caBundlePem;
  if (r.seen.length > 0) out.seen = r.seen.join(',');
  if (r.refused) out.refused = r.refused;
  return out;
}

/** Whether the record says a CA has ever been in use (then a missing CA Secret is never replaced). */
export function caEverSeen(r: TrustRecord): boolean {
  return r.caFingerprint !== undefined || r.seen.length > 0 || r.rotation !== undefined;
}
