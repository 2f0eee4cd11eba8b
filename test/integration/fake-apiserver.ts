/**
 * Kept for faults a real kube-apiserver cannot be made to produce on demand; every claim about Kubernetes behaviour is
 * tested against the real one (test/real/). What only this fake gives: watches dropped mid-stream with the server still
 * up (to see a resume from resourceVersion without a relist), a compaction at an exact moment (410 on every watch at
 * once), requests held and released at will (the HA freeze tests), and each request's exact method, path and content
 * type. Where it and the real server disagree, it is wrong.
 *
 * A fake Kubernetes API server for the integration tests: plain HTTP on 127.0.0.1, objects in
 * memory, one global resourceVersion counter (etcd's revision), streaming watches. It serves only
 * the resources and verbs in RESOURCES; anything else is answered 404/405/415 with a Status and
 * recorded in `unknown`. Modelled where the operator could tell the difference:
 *   - lists carry metadata.resourceVersion; core list items have no apiVersion/kind, as served;
 *   - ?watch=true replays the changes after ?resourceVersion (before a compact(): ERROR 410), then
 *     streams; selectors filter, and an object entering/leaving one is seen as ADDED/DELETED;
 *     BOOKMARKs with allowWatchBookmarks; a write that changes nothing sends no event;
 *   - field ownership for labels, annotations and data, per manager AND operation (metadata.
 *     managedFields): server-side apply removes a key its manager applied before and omits now only
 *     when no other manager owns it; a POST or a merge patch by "x" makes "x" an Update manager,
 *     a different one from the Apply manager "x"; force moves ownership of a changed value;
 *   - metadata.resourceVersion in a body is a precondition (409 Conflict);
 *   - JSON merge patch (null deletes); /status changes only status; a custom object's generation
 *     moves only with its spec; Secret data must be base64, its type is immutable, and
 *     kubernetes.io/tls needs tls.crt and tls.key; deleting an object collects what it owns.
 * limit/continue are ignored: every list is one page, as when everything fits in one.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';

type Json = Record<string, unknown>;
type StrMap = Record<string, string>;
export interface KubeObj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: StrMap; annotations?: StrMap; ownerReferences?: Array<{ uid: string }>; [k: string]: unknown };
  [k: string]: unknown;
}
type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'merge' | 'apply' | 'delete' | 'status';
type Change = { rv: number; plural: string; type: 'ADDED' | 'MODIFIED' | 'DELETED'; obj: KubeObj; old?: KubeObj | undefined };
type Watcher = { plural: string; namespace?: string | undefined; match(o: KubeObj): boolean; res: ServerResponse; timer?: NodeJS.Timeout };
/** Manager ("name|Apply" or "name|Update") -> the fields it owns ("data/tls.crt", "metadata.labels/k"). */
type Owners = Map<string, Set<string>>;
/** name: the object's, from the URL or the body (a create). */
export interface RecordedRequest { method: string; path: string; query: string; contentType: string; status: number; verb?: Verb; name?: string }

export const RESOURCES: Record<string, { apiVersion: string; kind: string; verbs: Verb[]; custom?: boolean }> = {
  secrets: { apiVersion: 'v1', kind: 'Secret', verbs: ['list', 'watch', 'get', 'create', 'apply', 'merge', 'delete'] },
  configmaps: { apiVersion: 'v1', kind: 'ConfigMap', verbs: ['list', 'watch', 'create', 'update', 'apply', 'delete'] },
  events: { apiVersion: 'v1', kind: 'Event', verbs: ['create', 'merge'] },
  mutualtlsidentities: { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', verbs: ['list', 'watch', 'get', 'status'], custom: true },
  leases: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', verbs: ['get', 'create', 'update'] },
  // Issue 19.6: the operator GETs the ServiceAccount a SPIFFE ID names.
  serviceaccounts: { apiVersion: 'v1', kind: 'ServiceAccount', verbs: ['get'] },
};
const MERGE = 'application/merge-patch+json';
const APPLY = 'application/apply-patch+yaml';
const MAPS = ['metadata.labels', 'metadata.annotations', 'data'] as const;

const clone = <T>(v: T): T => structuredClone(v);
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
/** JSON with sorted keys, so equal objects compare equal whatever their key order. */
const canonical = (v: unknown): string => isObj(v)
  ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
  : Array.isArray(v) ? `[${v.map(canonical).join(',')}]` : (JSON.stringify(v) ?? 'null');
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
const mapAt = (o: KubeObj | undefined, path: string) => (path === 'data' ? o?.data : o?.metadata[path.slice('metadata.'.length)]) as StrMap | undefined;
/** Labels, annotations and data as one map of "path/key" -> value. */
const flat = (o: KubeObj | undefined) => new Map<string, string>(MAPS.flatMap((p) => Object.entries(mapAt(o, p) ?? {}).map(([k, v]) => [`${p}/${k}`, v] as const)));
const copyOwners = (o: Owners | undefined): Owners => new Map([...(o ?? [])].map(([m, s]) => [m, new Set(s)]));

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Json = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A failure answered as a metav1.Status. */
type ApiError = Error & { code: number; reason: string };
const apiError = (code: number, reason: string, message: string): ApiError => Object.assign(new Error(message), { code, reason });

const FIELDS: Record<string, (o: KubeObj) => string | undefined> = { 'metadata.name': (o) => o.metadata.name, 'metadata.namespace': (o) => o.metadata.namespace };

/** labelSelector and fieldSelector: equality (k=v, k==v, k!=v) and existence (k, !k) terms. */
function selector(q: URLSearchParams): (o: KubeObj) => boolean {
  const parse = (text: string | null, field: boolean) => (text ?? '').split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const m = /^([^!=]+?)\s*(==|=|!=)\s*(.*)$/.exec(t);
    const term = m ? { key: m[1]!, op: m[2] === '!=' ? '!=' : '=', val: m[3]! } : { key: t.replace(/^!/, ''), op: t.startsWith('!') ? '!' : '?', val: '' };
    if (field && (!m || !FIELDS[term.key])) throw apiError(400, 'BadRequest', `field label not supported: ${term.key}`);
    return { ...term, get: field ? FIELDS[term.key]! : (o: KubeObj) => o.metadata.labels?.[term.key] };
  });
  const terms = [...parse(q.get('labelSelector'), false), ...parse(q.get('fieldSelector'), true)];
  return (o) => terms.every(({ op, val, get }) => {
    const v = get(o);
    return op === '=' ? v === val : op === '!=' ? v !== val : op === '?' ? v !== undefined : v === undefined;
  });
}

export class FakeApiServer {
  readonly token = 'integration-token';
  readonly requests: RecordedRequest[] = [];
  /** Requests that no route served (404, 405, 415). */
  readonly unknown: RecordedRequest[] = [];
  bookmarkMs = 1_000;
  url = '';
  private readonly server: Server;
  private readonly store = new Map<string, KubeObj>();
  private readonly owners = new Map<string, Owners>();
  private readonly history: Change[] = [];
  private readonly watchers = new Set<Watcher>();
  private rv = 0;
  private compactedRv = 0;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
  }

  static async start(): Promise<FakeApiServer> {
    const api = new FakeApiServer();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    api.url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    return api;
  }

  async close(): Promise<void> {
    this.dropWatches();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ---- test helpers ----

  get(plural: string, namespace: string, name: string): KubeObj | undefined {
    const key = `${plural}/${namespace}/${name}`;
    return this.store.has(key) ? this.present(plural, key) : undefined;
  }

  list(plural: string, namespace?: string): KubeObj[] {
    const prefix = namespace === undefined ? `${plural}/` : `${plural}/${namespace}/`;
    return [...this.store.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => this.present(plural, k));
  }

  /** Create or update a custom object as a user would: generation moves when the spec changes. */
  putCustom(plural: string, namespace: string, name: string, spec: Json, meta: { labels?: StrMap; annotations?: StrMap } = {}): KubeObj {
    const key = `${plural}/${namespace}/${name}`;
    const old = this.store.get(key);
    const obj = old ? clone(old) : this.fresh(plural, namespace, name);
    obj.spec = clone(spec);
    Object.assign(obj.metadata, clone(meta));
    if (old && !same(old.spec, obj.spec)) obj.metadata.generation = (old.metadata.generation ?? 1) + 1;
    this.commit(plural, obj, old);
    return this.present(plural, key);
  }

  /** A JSON merge patch by another client (an Update manager), as kubectl patch --type=merge. */
  patch(plural: string, namespace: string, name: string, patch: Json, manager = 'kubectl-patch'): KubeObj {
    const q = new URLSearchParams({ fieldManager: manager });
    return this.serve('merge', plural, namespace, name, q, { metadata: { name }, ...patch } as KubeObj, manager)[1] as KubeObj;
  }

  remove(plural: string, namespace: string, name: string): void {
    const old = this.store.get(`${plural}/${namespace}/${name}`);
    if (!old) throw new Error(`${plural}/${namespace}/${name} does not exist`);
    this.commit(plural, null, old);
  }

  /** End every open watch, as an apiserver restart would. */
  dropWatches(): void {
    for (const w of this.watchers) this.endWatch(w);
  }

  /** Forget the change history: a watch from an older resourceVersion gets 410 Expired. */
  compact(): void {
    this.history.length = 0;
    this.compactedRv = this.rv;
  }

  // ---- storage ----

  private fresh(plural: string, namespace: string, name: string): KubeObj {
    return { metadata: { name, namespace, uid: randomUUID(), creationTimestamp: now(), ...(RESOURCES[plural]!.custom ? { generation: 1 } : {}) } };
  }

  /** The object as served: apiVersion, kind, and managedFields from the owners. */
  private present(plural: string, key: string, obj = this.store.get(key)!): KubeObj {
    const { apiVersion, kind } = RESOURCES[plural]!;
    const out: KubeObj = { apiVersion, kind, ...clone(obj) };
    const managed = [...(this.owners.get(key) ?? [])].filter(([, fields]) => fields.size > 0).map(([id, fields]) => {
      const fieldsV1: Json = {};
      for (const f of fields) {
        let node = fieldsV1;
        for (const p of [...f.slice(0, f.indexOf('/')).split('.'), f.slice(f.indexOf('/') + 1)]) node = (node[`f:${p}`] ??= {}) as Json;
      }
      return { manager: id.split('|')[0], operation: id.split('|')[1], apiVersion, fieldsType: 'FieldsV1', fieldsV1 };
    });
    if (managed.length) out.metadata.managedFields = managed;
    return out;
  }

  /** Store `obj` (null: delete `old`) with the next resourceVersion, and tell the watches. */
  private commit(plural: string, obj: KubeObj | null, old: KubeObj | undefined, owners?: Owners): KubeObj {
    const stored = clone(obj ?? old!);
    const key = `${plural}/${stored.metadata.namespace}/${stored.metadata.name}`;
    for (const k of ['apiVersion', 'kind'] as const) delete stored[k];
    delete stored.metadata.managedFields;
    stored.metadata.resourceVersion = String(++this.rv);
    if (obj === null) (this.store.delete(key), this.owners.delete(key));
    else this.store.set(key, stored);
    if (owners) this.owners.set(key, owners);
    const change: Change = { rv: this.rv, plural, type: obj === null ? 'DELETED' : old ? 'MODIFIED' : 'ADDED', obj: stored, old };
    this.history.push(change);
    for (const w of this.watchers) this.deliver(w, change);
    if (obj === null) setImmediate(() => this.collectGarbage(stored.metadata.uid!));
    return stored;
  }

  private collectGarbage(ownerUid: string): void {
    for (const [key, o] of [...this.store]) {
      if (this.store.has(key) && o.metadata.ownerReferences?.some((r) => r.uid === ownerUid)) this.commit(key.split('/')[0]!, null, o);
    }
  }

  // ---- watches ----

  private deliver(w: Watcher, c: Change): void {
    if (w.plural !== c.plural || (w.namespace !== undefined && w.namespace !== c.obj.metadata.namespace)) return;
    const matches = w.match(c.obj);
    const matched = c.old !== undefined && w.match(c.old);
    const type = c.type !== 'MODIFIED' ? (matches ? c.type : undefined) : matches ? (matched ? 'MODIFIED' : 'ADDED') : matched ? 'DELETED' : undefined;
    const key = `${c.plural}/${c.obj.metadata.namespace}/${c.obj.metadata.name}`;
    if (type) w.res.write(`${JSON.stringify({ type, object: this.present(c.plural, key, c.obj) })}\n`);
  }

  private watch(w: Watcher, q: URLSearchParams): void {
    w.res.writeHead(200, { 'Content-Type': 'application/json' });
    w.res.flushHeaders();
    const from = Number(q.get('resourceVersion') ?? 0);
    const { apiVersion, kind } = RESOURCES[w.plural]!;
    if (from > 0 && from < this.compactedRv) {
      const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from} (${this.compactedRv})` };
      w.res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    if (from > 0) for (const c of this.history) if (c.rv > from) this.deliver(w, c);
    if (from === 0) for (const o of this.store.values()) this.deliver(w, { rv: 0, plural: w.plural, type: 'ADDED', obj: o });
    if (q.get('allowWatchBookmarks') === 'true') {
      w.timer = setInterval(() => w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion, kind, metadata: { resourceVersion: String(this.rv) } } })}\n`), this.bookmarkMs);
    }
    this.watchers.add(w);
    w.res.on('close', () => this.endWatch(w));
  }

  private endWatch(w: Watcher): void {
    clearInterval(w.timer);
    this.watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const rec: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.search, contentType: req.headers['content-type'] ?? '', status: 0 };
    this.requests.push(rec);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (code: number, body: unknown) => {
      rec.status = code;
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const unknown = (code: number, reason: string, message: string) => (this.unknown.push(rec), apiError(code, reason, message));
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw apiError(401, 'Unauthorized', 'Unauthorized');
      // Discovery of certificates.k8s.io, as a cluster without pod certificates answers it (the operator's signer looks
      // for podcertificaterequests and clustertrustbundles there at start, finds none, and stays off).
      const discovery = /^\/apis\/certificates\.k8s\.io\/(v1|v1beta1)$/.exec(url.pathname);
      if (discovery && req.method === 'GET') {
        const resources = discovery[1] === 'v1' ? [{ name: 'certificatesigningrequests', singularName: 'certificatesigningrequest', namespaced: false, kind: 'CertificateSigningRequest', verbs: ['create', 'get', 'list', 'watch'] }] : [];
        return send(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `certificates.k8s.io/${discovery[1]}`, resources });
      }
      const m = /^\/(?:api\/v1|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(url.pathname);
      const [, groupVersion = 'v1', namespace, plural = '', name, sub] = m ?? [];
      const type = RESOURCES[plural];
      if (!m || !type || type.apiVersion !== groupVersion || (name && !namespace) || (sub && !type.custom)) {
        throw unknown(404, 'NotFound', 'the server could not find the requested resource');
      }
      const media = rec.contentType.split(';')[0]!.trim();
      const q = url.searchParams;
      const verb: Verb | undefined = req.method === 'GET' ? (name ? 'get' : q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list')
        : req.method === 'POST' && !name ? 'create'
        : req.method === 'PUT' && name ? 'update'
        : req.method === 'DELETE' && name ? 'delete'
        : req.method === 'PATCH' && name && (media === MERGE || media === APPLY) ? (sub ? (media === MERGE ? 'status' : undefined) : media === MERGE ? 'merge' : 'apply')
        : undefined;
      if (req.method === 'PATCH' && name && !verb) throw unknown(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${media}`);
      if (!verb || !type.verbs.includes(verb)) throw unknown(405, 'MethodNotAllowed', `${req.method} ${url.pathname} is not served by the fake apiserver`);
      rec.verb = verb;
      if (verb === 'watch') {
        rec.status = 200;
        this.watch({ plural, namespace, match: selector(q), res }, q);
        return;
      }
      let body: KubeObj | undefined;
      if (chunks.length) {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          body = (media === APPLY ? YAML.parse(text) : JSON.parse(text)) as KubeObj;
        } catch (err) {
          throw apiError(400, 'BadRequest', `the request body could not be decoded: ${(err as Error).message}`);
        }
        if (!isObj(body)) throw apiError(400, 'BadRequest', 'the request body is not an object');
      }
      rec.name = name ?? body?.metadata?.name;
      const manager = q.get('fieldManager') ?? req.headers['user-agent']?.split('/')[0] ?? 'unknown';
      send(...this.serve(verb, plural, namespace, name, q, body, manager));
    } catch (err) {
      const e = err instanceof Error && 'reason' in err ? err as ApiError : apiError(500, 'InternalError', String(err));
      send(e.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, code: e.code });
    }
  }

  private serve(verb: Verb, plural: string, namespace: string | undefined, name: string | undefined, q: URLSearchParams, body: KubeObj | undefined, manager: string): [number, unknown] {
    const type = RESOURCES[plural]!;
    const what = type.apiVersion === 'v1' ? plural : `${plural}.${type.apiVersion.split('/')[0]}`;
    if (verb === 'list') {
      const match = selector(q);
      const items = this.list(plural, namespace).filter(match).map((o) => (type.custom ? o : { ...o, apiVersion: undefined, kind: undefined }));
      return [200, { apiVersion: type.apiVersion, kind: `${type.kind}List`, metadata: { resourceVersion: String(this.rv) }, items }];
    }
    const objName = name ?? body?.metadata?.name;
    if (!objName) throw apiError(422, 'Invalid', `${what} "" is invalid: metadata.name: Required value`);
    const key = `${plural}/${namespace}/${objName}`;
    const old = this.store.get(key);
    const notFound = () => apiError(404, 'NotFound', `${what} "${objName}" not found`);
    if (body) {
      if (!isObj(body.metadata)) body.metadata = { name: objName };
      if ((body.metadata.namespace ?? namespace) !== namespace) throw apiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      if ((body.metadata.name ?? objName) !== objName) throw apiError(400, 'BadRequest', `the name of the object (${body.metadata.name}) does not match the name on the URL (${objName})`);
      const rv = body.metadata.resourceVersion;
      if (rv && verb === 'create') throw apiError(400, 'BadRequest', 'resourceVersion should not be set on objects to be created');
      if (rv && rv !== old?.metadata.resourceVersion) {
        if (!old) throw notFound();
        throw apiError(409, 'Conflict', `Operation cannot be fulfilled on ${what} "${objName}": the object has been modified; please apply your changes to the latest version and try again`);
      }
    }
    if (verb === 'create' && old) throw apiError(409, 'AlreadyExists', `${what} "${objName}" already exists`);
    if (verb !== 'create' && verb !== 'apply' && !old) throw notFound();
    if (verb === 'get') return [200, this.present(plural, key)];
    if (verb === 'delete') {
      const pre = (body as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)?.preconditions;
      if (pre?.uid !== undefined && pre.uid !== old!.metadata.uid) {
        throw apiError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old!.metadata.uid}`);
      }
      if (pre?.resourceVersion !== undefined && pre.resourceVersion !== old!.metadata.resourceVersion) {
        throw apiError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old!.metadata.resourceVersion}`);
      }
      this.commit(plural, null, old);
      return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: objName, kind: plural, uid: old!.metadata.uid } }];
    }
    const owners = copyOwners(this.owners.get(key));
    let next: KubeObj;
    if (verb === 'create') {
      next = { ...clone(body!), metadata: { ...clone(body!.metadata), ...this.fresh(plural, namespace!, objName).metadata } };
      if (plural === 'secrets') next.type ??= 'Opaque';
    } else if (verb === 'update') {
      next = { ...clone(body!), metadata: { ...clone(body!.metadata), uid: old!.metadata.uid, creationTimestamp: old!.metadata.creationTimestamp } };
    } else if (verb === 'merge') {
      next = mergePatch(old, body) as KubeObj;
    } else if (verb === 'status') {
      next = { ...clone(old!), status: mergePatch(old!.status, body?.status) };
    } else {
      if (body!.apiVersion !== type.apiVersion || body!.kind !== type.kind) throw apiError(400, 'BadRequest', `an apply must carry apiVersion ${type.apiVersion} and kind ${type.kind}`);
      if (!q.get('fieldManager')) throw apiError(400, 'BadRequest', 'PATCH requests with the apply content type require a fieldManager');
      next = this.apply(old ? clone(old) : this.fresh(plural, namespace!, objName), body!, owners, `${manager}|Apply`, q.get('force') === 'true');
      if (plural === 'secrets') next.type ??= 'Opaque';
    }
    for (const k of ['apiVersion', 'kind'] as const) delete next[k];
    next.metadata.resourceVersion = old?.metadata.resourceVersion;
    if (verb !== 'apply') this.takeChanged(owners, `${manager}|Update`, old, next);
    if (old && same(old, next) && same([...owners].map(([m, s]) => [m, [...s].sort()]), [...this.owners.get(key) ?? []].map(([m, s]) => [m, [...s].sort()]))) {
      return [200, this.present(plural, key)];
    }
    this.validate(plural, next, old);
    this.commit(plural, next, old, owners);
    return [old ? 200 : 201, this.present(plural, key)];
  }

  /** Server-side apply of `body` over `obj` by manager `me`; updates `owners`. */
  private apply(obj: KubeObj, body: KubeObj, owners: Owners, me: string, force: boolean): KubeObj {
    const have = flat(obj);
    const sent = flat(body);
    const result = new Map(have);
    const others = (f: string) => [...owners].filter(([m, s]) => m !== me && s.has(f));
    for (const f of owners.get(me) ?? []) if (!sent.has(f) && others(f).length === 0) result.delete(f);
    for (const [f, v] of sent) {
      for (const [m, s] of have.has(f) && have.get(f) !== v ? others(f) : []) {
        if (!force) throw apiError(409, 'Conflict', `Apply failed with 1 conflict: conflict with "${m.split('|')[0]}": .${f.replace('/', '.')}`);
        s.delete(f);
      }
      result.set(f, v);
    }
    owners.set(me, new Set(sent.keys()));
    for (const [k, v] of Object.entries(body)) if (!['apiVersion', 'kind', 'metadata', 'data', 'status'].includes(k)) obj[k] = clone(v);
    if (body.metadata.ownerReferences) obj.metadata.ownerReferences = clone(body.metadata.ownerReferences);
    for (const p of MAPS) {
      const map = Object.fromEntries([...result].filter(([f]) => f.startsWith(`${p}/`)).map(([f, v]) => [f.slice(p.length + 1), v]));
      const [holder, field] = p === 'data' ? [obj as Json, 'data'] : [obj.metadata as Json, p.slice('metadata.'.length)];
      if (Object.keys(map).length) holder[field] = map;
      else delete holder[field];
    }
    return obj;
  }

  /** An Update (POST, PUT, merge patch) owns the fields whose values it changed. */
  private takeChanged(owners: Owners, me: string, old: KubeObj | undefined, next: KubeObj): void {
    const before = flat(old);
    const after = flat(next);
    for (const [f, v] of after) {
      if (before.get(f) === v) continue;
      for (const s of owners.values()) s.delete(f);
      owners.set(me, (owners.get(me) ?? new Set()).add(f));
    }
    for (const f of before.keys()) if (!after.has(f)) for (const s of owners.values()) s.delete(f);
  }

  /** The apiserver's Secret checks that matter here. */
  private validate(plural: string, obj: KubeObj, old: KubeObj | undefined): void {
    if (plural !== 'secrets') return;
    const invalid = (why: string) => apiError(422, 'Invalid', `Secret "${obj.metadata.name}" is invalid: ${why}`);
    const data = (obj.data ?? {}) as StrMap;
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) throw invalid(`data[${k}]: illegal base64 data`);
    }
    if (old && old.type !== obj.type) throw invalid('type: Invalid value: field is immutable');
    if (obj.type === 'kubernetes.io/tls' && !('tls.crt' in data && 'tls.key' in data)) throw invalid('data[tls.crt], data[tls.key]: Required value');
  }
}
