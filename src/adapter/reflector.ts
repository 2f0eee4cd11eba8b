/**
 * A supervised reflector: list, then watch from the list's resourceVersion, keeping a cache keyed
 * namespace/name, and never giving up. One loop owns each collection:
 *
 *   list (paged, each page normalized as it arrives) -> replace cache, emit deletes + adds/updates
 *   -> watch(rv, bookmarks)
 *     event/bookmark: update cache and rv, pet the watchdog
 *     ERROR 410 / HTTP 410 (Expired, Gone): clear rv, relist (after backoff)
 *     error, end of stream, watchdog (silent for watchdogMs): restart from rv after backoff
 *     periodic resync timer: onResync() from the cache; no list, the watch stays up
 *
 * A list happens only at start and after a real gap (410): bookmarks keep the resourceVersion
 * current on a quiet watch, so a restarted watch resumes instead of relisting.
 *
 * Backoff grows on every restart and resets once a watch has stayed up for healthyMs. How a list's
 * pages become the cache and reach the handlers: handover.ts.
 */
import type { Watch } from '@kubernetes/client-node';
import { Backoff, RestartWait, type BackoffOptions } from './backoff.ts';
import { isOlder } from './convert.ts';
import { describeError } from './errors.ts';
import { handOver, listPages } from './handover.ts';
import { openWatch, type Outcome, type WatchSession } from './session.ts';
import { bounded } from './timing.ts';
import { keyOf, type AdapterLogger, type ChangeKind, type KubeObject } from './types.ts';

export interface ReflectorOptions<T extends KubeObject> {
  /** Name in logs and stats, e.g. "secrets/team-a". */
  name: string;
  /** The collection's URL path, e.g. "/api/v1/namespaces/team-a/secrets". */
  path: string;
  /** labelSelector / fieldSelector for the watch (the list function applies its own). */
  query: Record<string, string>;
  /** A paged list: each page's items to `onItems` as it arrives; resolves to the list's resourceVersion. */
  list(onItems: (items: unknown[], restarted: boolean) => void): Promise<string>;
  normalize(raw: unknown): T;
  /**
   * What the cache keeps of a version it is about to store, from a list page or a watch event (a transform, like
   * client-go's SetTransform): never called for a version it drops (older than its copy, or deleted), nor for
   * the echo of a write. Default: the object itself.
   */
  keep?(obj: T): T;
  watch: Pick<Watch, 'watch'>;
  onChange(kind: ChangeKind, obj: T): void;
  /** After every list but the first, and every resyncIntervalMs (from the cache). */
  onResync(): void;
  logger: AdapterLogger;
  /** Every this long, onResync() from the cache; undefined: never (only after relists). */
  resyncIntervalMs?: number;
  watchdogMs: number;
  listTimeoutMs: number;
  backoff: BackoffOptions;
  /** A watch that stayed up this long resets the backoff. */
  healthyMs: number;
  /**
   * Do not emit a watch event that brings exactly the version already cached (the echo of our own
   * write, written through by put()): the controller has just reconciled that object.
   */
  skipEchoes?: boolean;
}

export class Reflector<T extends KubeObject> {
  readonly name: string;
  synced = false;
  restarts = 0;
  relists = 0;
  resyncs = 0;
  bookmarks = 0;
  /** Watch events skipped as echoes of our own writes (skipEchoes). */
  echoes = 0;
  lastEventAt = 0;

  private readonly opts: ReflectorOptions<T>;
  private readonly backoff: Backoff;
  private cache = new Map<string, T>();
  private rv = '';
  private needList = true;
  private stopped = false;
  private loop?: Promise<void>;
  private session?: WatchSession;
  private resyncTimer?: NodeJS.Timeout;
  private readonly waits = new RestartWait();
  private cancelList?: () => void;
  private syncWaiter?: { resolve(): void; reject(err: Error): void };

  constructor(opts: ReflectorOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.backoff = new Backoff(opts.backoff);
  }

  /** Resolves after the first successful list; rejects if stopped before that. */
  start(): Promise<void> {
    if (this.loop) throw new Error(`watch ${this.name} already started`);
    const synced = new Promise<void>((resolve, reject) => {
      this.syncWaiter = { resolve, reject };
    });
    this.loop = this.run();
    return synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.session?.finish({ kind: 'stopped' });
    this.waits.stop();
    this.cancelList?.();
    await this.loop;
    this.syncWaiter?.reject(new Error(`watch ${this.name} stopped before its first sync`));
    this.syncWaiter = undefined;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  values(): T[] {
    return [...this.cache.values()];
  }

  /** Write-through of the server's answer to our own write. Emits nothing. */
  put(obj: T): void {
    const key = keyOf(obj);
    if (!isOlder(obj.metadata.resourceVersion, this.cache.get(key)?.metadata.resourceVersion)) this.cache.set(key, obj);
  }

  forget(key: string): void {
    this.cache.delete(key);
  }

  /** Abort the current watch (if any) and list again. */
  requestRelist(): void {
    this.needList = true;
    this.session?.finish({ kind: 'relist' });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        // A bug, not an API failure (those are outcomes): log it and keep the watch alive.
        this.restarts++;
        this.opts.logger.error('watch loop error', { watch: this.name, error: describeError(err) });
        await this.waits.sleep(this.backoff.next());
      }
    }
  }

  private async step(): Promise<void> {
    if (this.needList && !(await this.list())) {
      if (this.stopped) return;
      this.restarts++;
      await this.waits.sleep(this.backoff.next());
      return;
    }
    if (this.stopped) return; // stopped while the list was in flight: open no watch
    const startedAt = Date.now();
    const outcome = await this.watchOnce();
    if (this.stopped || outcome.kind === 'stopped') return;
    if (Date.now() - startedAt >= this.opts.healthyMs) this.backoff.reset();
    if (outcome.kind === 'relist') return;
    this.restarts++;
    if (outcome.kind === 'gone') {
      this.rv = '';
      this.needList = true;
    }
    const delayMs = this.backoff.next();
    const level = outcome.kind === 'end' || outcome.kind === 'gone' ? 'info' : 'warn';
    this.opts.logger[level]('watch restarting', {
      watch: this.name,
      reason: outcome.kind,
      detail: outcome.detail,
      delayMs,
      restarts: this.restarts,
    });
    await this.waits.sleep(delayMs);
  }

  /** One (paged) list replacing the cache. false: it failed (logged) or was cancelled. */
  private async list(): Promise<boolean> {
    const keep = this.opts.keep?.bind(this.opts);
    const pages = listPages((raw) => this.opts.normalize(raw), (key) => this.cache.get(key), keep);
    let resourceVersion: string | undefined;
    try {
      const ms = this.opts.listTimeoutMs;
      const call = bounded(this.opts.list(pages.onItems), ms, () => new Error(`list timed out after ${ms} ms`));
      this.cancelList = call.cancel;
      resourceVersion = await call.promise;
    } catch (err) {
      this.opts.logger.warn('list failed', { watch: this.name, error: describeError(err) });
      return false;
    } finally {
      this.cancelList = undefined;
    }
    if (resourceVersion === undefined || this.stopped) return false;

    const previous = this.cache;
    const fresh = pages.fresh();
    this.cache = fresh;
    this.rv = resourceVersion;
    this.needList = false;
    this.lastEventAt = Date.now();
    this.scheduleResync();

    if (!(await handOver(previous, fresh, (kind, obj) => this.emit(kind, obj), () => this.stopped))) return false;

    if (!this.synced) {
      this.synced = true;
      this.syncWaiter?.resolve();
      this.syncWaiter = undefined;
      this.opts.logger.debug('watch synced', { watch: this.name, objects: fresh.size });
    } else {
      this.relists++;
      this.opts.logger.info('watch relisted', { watch: this.name, objects: fresh.size });
      this.guard('resynced', () => this.opts.onResync());
    }
    return true;
  }

  /** Every resyncIntervalMs after a list: hand the cache to the controller again, without listing. */
  private scheduleResync(): void {
    clearInterval(this.resyncTimer);
    if (this.opts.resyncIntervalMs === undefined) return;
    this.resyncTimer = setInterval(() => {
      if (this.stopped || this.needList) return;
      this.resyncs++;
      this.opts.logger.debug('watch resynced from cache', { watch: this.name, objects: this.cache.size });
      this.guard('resynced', () => this.opts.onResync());
    }, this.opts.resyncIntervalMs);
    this.resyncTimer.unref?.();
  }

  /** One watch connection, until it ends for any reason. */
  private async watchOnce(): Promise<Outcome> {
    const session = openWatch({
      watch: this.opts.watch,
      path: this.opts.path,
      query: { ...this.opts.query, allowWatchBookmarks: true, resourceVersion: this.rv || undefined },
      watchdogMs: this.opts.watchdogMs,
      onEvent: (type, object) => {
        this.lastEventAt = Date.now();
        this.onWatchEvent(type, object);
      },
      onError: (msg, meta) => this.opts.logger.error(msg, { watch: this.name, ...meta }),
    });
    this.session = session;
    try {
      return await session.done;
    } finally {
      if (this.session === session) this.session = undefined;
    }
  }

  private onWatchEvent(type: string, raw: unknown): void {
    if (type === 'BOOKMARK') {
      this.bookmarks++;
      const rv = (raw as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
      if (typeof rv === 'string' && rv) this.rv = rv;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      this.opts.logger.debug('unknown watch event type', { watch: this.name, type });
      return;
    }
    if (this.opts.skipEchoes && type !== 'DELETED' && this.isEcho(raw)) return;
    const obj = this.opts.normalize(raw);
    const key = keyOf(obj);
    const cached = this.cache.get(key);
    // Never go back past a copy we wrote through (the watch may still be catching up to it).
    const stale = cached !== undefined && isOlder(obj.metadata.resourceVersion, cached.metadata.resourceVersion);
    if (obj.metadata.resourceVersion) this.rv = obj.metadata.resourceVersion;
    if (type === 'DELETED') {
      if (!stale) this.cache.delete(key);
      this.emit('delete', cached ?? obj);
    } else {
      const kept = stale || !this.opts.keep ? obj : this.opts.keep(obj);
      if (!stale) this.cache.set(key, kept);
      this.emit(cached ? 'update' : 'add', kept);
    }
  }

  /**
   * The echo of a version already cached (our own write, written through), told from the raw event's metadata:
   * normalizing it first (reduce, intern) was work for nothing, twice per issuance.
   */
  private isEcho(raw: unknown): boolean {
    const m = (raw as { metadata?: { namespace?: unknown; name?: unknown; resourceVersion?: unknown } } | null)?.metadata;
    if (typeof m?.name !== 'string' || typeof m.resourceVersion !== 'string') return false;
    const namespace = typeof m.namespace === 'string' ? m.namespace : undefined;
    const cached = this.cache.get(keyOf({ metadata: { namespace, name: m.name } } as KubeObject));
    if (cached?.metadata.resourceVersion !== m.resourceVersion) return false;
    if (m.resourceVersion) this.rv = m.resourceVersion;
    this.echoes++;
    return true;
  }

  private emit(kind: ChangeKind, obj: T): void {
    this.guard(kind, () => this.opts.onChange(kind, obj));
  }

  /** A throwing handler is logged and never reaches the watch. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.error('watch handler threw', { watch: this.name, handler: what, error: describeError(err) });
    }
  }
}
