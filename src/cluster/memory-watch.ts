/**
 * The in-memory cluster's watches: which handler a change reaches (an identity, a ConfigMap, one of
 * our Secrets, the CA Secret) and when: after the write returns, as a real watch delivers.
 */
import type { Secret } from '../api/types.ts';
import type { ClusterHandlers } from './port.ts';

export class MemoryWatch {
  /** Set by the port's start(), cleared by stop(): read when a change is delivered, not when it is made. */
  handlers: ClusterHandlers | undefined;
  private readonly isCA: (s: Secret) => boolean;
  private readonly isOurs: (s: Secret) => boolean;

  constructor(isCA: (s: Secret) => boolean, isOurs: (s: Secret) => boolean) {
    this.isCA = isCA;
    this.isOurs = isOurs;
  }

  identity(namespace: string, name: string): void {
    this.notify(() => this.handlers?.identityChanged(namespace, name));
  }

  configMap(namespace: string, name: string): void {
    this.notify(() => this.handlers?.configMapChanged?.(namespace, name));
  }

  secret(s: Secret): void {
    const labels = { ...(s.metadata.labels ?? {}) };
    if (this.isCA(s)) this.notify(() => this.handlers?.caSecretChanged());
    const owner = s.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'MutualTLSIdentity')?.name;
    if (!this.isCA(s) && this.isOurs(s)) this.notify(() => this.handlers?.secretChanged(s.metadata.namespace!, s.metadata.name, labels, owner));
  }

  /** Watches deliver after the write returns, as a real watch would. */
  private notify(fn: () => void): void {
    setImmediate(() => {
      try {
        fn();
      } catch {
        // a handler that throws must not break the "watch"
      }
    });
  }
}
