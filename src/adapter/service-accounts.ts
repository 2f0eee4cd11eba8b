/**
 * Does a ServiceAccount exist? (issue 19, point 6: the ServiceAccount named in a SPIFFE ID.)
 *
 * A GET per ServiceAccount name, its answer kept for `ttlMs` (default 10 s), rather than a watch: the operator needs
 * one bit per identity, only when it reconciles one, and a cluster-wide ServiceAccount cache would hold every
 * ServiceAccount of every namespace. RBAC: `get serviceaccounts` only (deploy/rbac.yaml). The cache is bounded
 * (`maxEntries`, oldest answer dropped first): a tenant naming thousands of ServiceAccounts costs GETs, not memory.
 */
export interface ServiceAccountCacheOptions {
  /** GET the ServiceAccount: resolves when it exists, rejects with `{ code: 404 }` when it does not. */
  get(namespace: string, name: string): Promise<unknown>;
  now(): number;
  ttlMs?: number;
  maxEntries?: number;
}

export class ServiceAccountCache {
  private readonly answers = new Map<string, { exists: boolean; at: number }>();
  private readonly opts: ServiceAccountCacheOptions;

  constructor(opts: ServiceAccountCacheOptions) {
    this.opts = opts;
  }

  async exists(namespace: string, name: string): Promise<boolean> {
    const key = `${namespace}/${name}`;
    const ttl = this.opts.ttlMs ?? 10_000;
    const known = this.answers.get(key);
    if (known && this.opts.now() - known.at < ttl) return known.exists;
    let exists: boolean;
    try {
      await this.opts.get(namespace, name);
      exists = true;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 404) throw err;
      exists = false;
    }
    this.answers.delete(key);
    this.answers.set(key, { exists, at: this.opts.now() });
    const max = this.opts.maxEntries ?? 4096;
    while (this.answers.size > max) this.answers.delete(this.answers.keys().next().value!);
    return exists;
  }

  get size(): number {
    return this.answers.size;
  }
}
