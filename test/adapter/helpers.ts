/**
 * A fake apiserver on nock for the adapter tests: list collections and streaming watches.
 * ConfigMap collections not set by a test answer an empty list (every KubeCluster watches them).
 */
import { PassThrough } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import nock from 'nock';
import type { ClusterHandlers } from '../../src/cluster/port.ts';
import type { ConfigMap, MutualTLSIdentity, Secret } from '../../src/api/types.ts';
import type { AdapterLogger } from '../../src/adapter/kube.ts';

export const SERVER = 'https://k8s.test';
export const MANAGED = { 'app.kubernetes.io/managed-by': 'mtls-operator' };
export const MANAGED_SELECTOR = 'app.kubernetes.io/managed-by=mtls-operator';
export const CA_SELECTOR = 'metadata.name=mtls-root-ca';
export const IDENTITIES = '/apis/mtls.dev/v1alpha1/mutualtlsidentities';
export const SECRETS = '/api/v1/secrets';
export const CA_PATH = '/api/v1/namespaces/mtls-system/secrets';
export const CONFIGMAPS = '/api/v1/configmaps';
/** Trust bundles are listed by label and by name; so is the rotation state. */
export const BUNDLE_SELECTOR = `${MANAGED_SELECTOR}|metadata.name=mtls-trust-bundle`;
export const ROTATION_SELECTOR = `${MANAGED_SELECTOR}|metadata.name=mtls-trust-rotation`;

/** The ConfigMap collection of one namespace. */
export function configMapsIn(namespace: string): string {
  return `/api/v1/namespaces/${namespace}/configmaps`;
}

/** A token user and skipTLSVerify: nock cannot intercept undici once a CA or client cert is set. */
export function testKubeConfig(server = SERVER): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'test-token' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kc;
}

export interface LogEntry {
  level: string;
  msg: string;
  meta?: object;
}

export function testLogger(): AdapterLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (msg: string, meta?: object) => void entries.push({ level, msg, meta });
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

export class RecordingHandlers implements ClusterHandlers {
  readonly calls: string[] = [];
  throwOnIdentity = false;
  identityChanged(namespace: string, name: string): void {
    this.calls.push(`identity ${namespace}/${name}`);
    if (this.throwOnIdentity) throw new Error('handler exploded');
  }
  secretChanged(namespace: string, name: string, labels: Record<string, string>): void {
    this.calls.push(`secret ${namespace}/${name} ${Object.keys(labels).length}`);
  }
  caSecretChanged(): void {
    this.calls.push('ca');
  }
  configMapChanged(namespace: string, name: string): void {
    this.calls.push(`configmap ${namespace}/${name}`);
  }
  resynced(): void {
    this.calls.push('resynced');
  }
}

export function identity(namespace: string, name: string, rv: string): MutualTLSIdentity {
  return {
    apiVersion: 'mtls.dev/v1alpha1',
    kind: 'MutualTLSIdentity',
    metadata: { name, namespace, uid: `uid-${name}`, resourceVersion: rv, generation: 1 },
    spec: { secretName: `${name}-tls` },
  };
}

/**
 * A labelled Secret owned (controller ownerReference) by the identity helper's `<name>` for a
 * Secret named `<name>-tls`: the Secret cache keeps data only for Secrets a live identity owns.
 */
export function secret(namespace: string, name: string, rv: string, labels: Record<string, string> = MANAGED): Secret {
  const owner = name.replace(/-tls$/, '');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      resourceVersion: rv,
      labels,
      ownerReferences: [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: owner, uid: `uid-${owner}`, controller: true }],
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': 'Y2VydA==' },
  };
}

export function configMap(namespace: string, name: string, rv: string, data: Record<string, string> = { 'ca.crt': 'cert' }): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, resourceVersion: rv, labels: MANAGED },
    data,
  };
}

export interface WatchConn {
  path: string;
  query: URLSearchParams;
  stream: PassThrough;
  send(type: string, object: unknown): void;
}

interface Collection {
  items: object[];
  resourceVersion: string;
}

/** labelSelector, fieldSelector, or both as `label|field`. */
function selectorOf(q: URLSearchParams): string {
  return [q.get('labelSelector'), q.get('fieldSelector')].filter((x) => x).join('|');
}

/** Serves lists from `collections` and holds every watch open as a stream the test writes to. */
export class FakeApi {
  readonly lists: { path: string; query: URLSearchParams }[] = [];
  readonly watches: WatchConn[] = [];
  private readonly collections = new Map<string, Collection>();
  /** Replies (status codes) for the next watch requests on a path, in order. */
  private readonly watchReplies = new Map<string, number[]>();
  private readonly listReplies = new Map<string, number[]>();
  /** Watches that answer no bytes at all (the connection hangs before headers). */
  hangWatches = false;

  set(path: string, selector: string, items: object[], resourceVersion: string): void {
    this.collections.set(`${path}|${selector}`, { items, resourceVersion });
  }

  failNextWatch(path: string, ...codes: number[]): void {
    this.watchReplies.set(path, codes);
  }

  failNextList(path: string, ...codes: number[]): void {
    this.listReplies.set(path, codes);
  }

  install(): void {
    nock(SERVER)
      .persist()
      .get(/.*/)
      .query(true)
      .reply((req: Request) => this.route(new URL(req.url)));
  }

  listsOf(path: string): { path: string; query: URLSearchParams }[] {
    return this.lists.filter((l) => l.path === path);
  }

  watchesOf(path: string, selector = ''): WatchConn[] {
    return this.watches.filter((w) => w.path === path && selectorOf(w.query) === selector);
  }

  /** End every open stream (after the cluster is stopped). */
  close(): void {
    for (const w of this.watches) if (!w.stream.destroyed) w.stream.end();
  }

  /** Our ConfigMaps, when the test set none: an empty list (only with our label selector). */
  private defaultCollection(path: string, q: URLSearchParams): Collection | undefined {
    const isConfigMaps = path === CONFIGMAPS || /^\/api\/v1\/namespaces\/[^/]+\/configmaps$/.test(path);
    return isConfigMaps && q.get('labelSelector') === MANAGED_SELECTOR ? { items: [], resourceVersion: '1' } : undefined;
  }

  private route(url: URL): readonly [number, unknown] | readonly [number, unknown, Record<string, string>] {
    const q = url.searchParams;
    const path = url.pathname;
    if (q.get('watch') === 'true') {
      const code = this.watchReplies.get(path)?.shift();
      if (code !== undefined) return [code, status(code)];
      const stream = new PassThrough();
      const conn: WatchConn = {
        path,
        query: q,
        stream,
        send: (type, object) => void stream.write(`${JSON.stringify({ type, object })}\n`),
      };
      this.watches.push(conn);
      // A real apiserver sends headers at once; nock sends them with the first byte.
      if (!this.hangWatches) stream.write('\n');
      // Chunked like the apiserver's: a read-until-close body would "complete" when the client
      // aborts and the socket closes, and undici asserts (!aborted) on that.
      return [200, stream, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }];
    }
    const code = this.listReplies.get(path)?.shift();
    if (code !== undefined) return [code, status(code)];
    const collection = this.collections.get(`${path}|${selectorOf(q)}`) ?? this.defaultCollection(path, q);
    if (!collection) return [404, status(404)];
    this.lists.push({ path, query: q });
    return [200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: collection.resourceVersion }, items: collection.items }];
  }
}

export function status(code: number, reason = 'Failure', message = `fake ${code}`): object {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
