/**
 * What the controller reports as it works (metrics hang off this). Every method is optional
 * and must not throw; the controller calls them synchronously.
 */
export interface IdentityState {
  ready: boolean;
  /** Ready's reason (Ready, CANotReady, PolicyViolation, ...). */
  reason: string;
  notAfter?: Date;
  renewalTime?: Date;
}

export interface ControllerObserver {
  /** An issuance attempt ended. reason: why it was needed (SecretMissing, RenewalTimeReached, ...). */
  issuance?(namespace: string, name: string, reason: string, result: 'success' | 'failure'): void;
  /** The identity's state after a reconcile. */
  identityState?(namespace: string, name: string, state: IdentityState): void;
  /** The identity is gone. */
  identityRemoved?(namespace: string, name: string): void;
  /** One reconcile took this long. */
  reconciled?(seconds: number, outcome: 'success' | 'error'): void;
  /** The signing CA was (re)loaded: its expiry, or undefined when it is not usable. */
  caLoaded?(notAfter: Date | undefined): void;
  /**
   * A namespace's `mtls-trust-bundle` ConfigMap is someone else's (true, left alone) or no longer
   * in the way (false).
   */
  trustBundleConflict?(namespace: string, conflict: boolean): void;
  /** The root rotation's phase (Prepared, Active, Retired, Aborted), or undefined: none yet. */
  rotationPhase?(phase: string | undefined): void;
}

export const noObserver: ControllerObserver = {};
