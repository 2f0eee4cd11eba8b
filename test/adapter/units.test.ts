import assert from 'node:assert/strict';
import { Backoff } from '../../src/adapter/backoff.ts';
import { isOlder, toConfigMap, toIdentity, toSecret, writableConfigMap, writableSecret } from '../../src/adapter/convert.ts';
import { parseStatus, redact, toClusterError } from '../../src/adapter/errors.ts';
import type { Watch } from '@kubernetes/client-node';
import { listAllPages, streamPages, type PageFn } from '../../src/adapter/paging.ts';
import { Reflector } from '../../src/adapter/reflector.ts';
import type { KubeObject } from '../../src/adapter/types.ts';
import { classify } from '../../src/adapter/session.ts';
import { bounded } from '../../src/adapter/timing.ts';
import type { AdapterLogger } from '../../src/adapter/kube.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { silentLogger } from '../../src/log.ts';

describe('adapter helpers', () => {
  it('Backoff doubles up to the cap, jitters within [d/2, d], and resets', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => low.next()), [50, 100, 200, 400, 500, 500]);
    low.reset();
    assert.equal(low.next(), 50);
    const high = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0.999999);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => high.next()), [100, 200, 400, 800, 1000]);
  });

  it('parseStatus reads a Status from JSON text or an object, and ignores anything else', () => {
    assert.deepEqual(parseStatus('{"kind":"Status","code":409,"reason":"AlreadyExists","message":"m"}'), {
      code: 409, reason: 'AlreadyExists', message: 'm',
    });
    assert.deepEqual(parseStatus({ code: 410, reason: 'Expired' }), { code: 410, reason: 'Expired' });
    assert.equal(parseStatus('<html>bad gateway</html>'), undefined);
    assert.equal(parseStatus(undefined), undefined);
  });

  it('redact removes PEM blocks and long base64, and bounds the length', () => {
    const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----';
    assert.equal(redact(`bad key ${pem} here`), 'bad key [redacted] here');
    assert.equal(redact(`value ${'QUJD'.repeat(60)}`), 'value [redacted]');
    assert.equal(redact('ab '.repeat(200)).length, 515);
  });

  it('toClusterError: a 403 with the cause NamespaceTerminating is told from a permission denied', () => {
    const terminating = toClusterError({ code: 403, body: JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden',
      message: 'secrets "web-mtls" is forbidden: unable to create new content in namespace dev because it is being terminated',
      details: { name: 'web-mtls', kind: 'secrets', causes: [{ reason: 'NamespaceTerminating', message: 'namespace dev is being terminated', field: 'metadata.namespace' }] } }) }, 'PATCH secrets/dev/web-mtls');
    assert.equal(terminating.reason, 'NamespaceTerminating');
    assert.ok(ClusterError.isNamespaceTerminating(terminating));
    const denied = toClusterError({ code: 403, body: JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'secrets is forbidden: User "x" cannot create resource "secrets"' }) }, 'POST secrets/dev/x');
    assert.equal(denied.reason, 'Forbidden');
    assert.ok(!ClusterError.isNamespaceTerminating(denied));
  });

  it('toClusterError keeps ClusterErrors and maps codes without a reason to the apimachinery reason', () => {
    const original = new ClusterError(404, 'NotFound', 'x');
    assert.equal(toClusterError(original, 'GET'), original);
    const err = toClusterError({ code: 429, body: '' }, 'GET secrets/a/b');
    assert.equal(err.reason, 'TooManyRequests');
    assert.equal(err.message, 'GET secrets/a/b: 429 Too Many Requests');
  });

  it('toSecret turns client-node Dates into RFC 3339 strings and keeps only the Secret fields', () => {
    const s = toSecret({
      metadata: {
        name: 'n', namespace: 'ns', creationTimestamp: new Date('2026-03-04T05:06:07.000Z'),
        managedFields: [{ manager: 'x' }], labels: { a: 'b' },
      },
      type: 'Opaque',
      data: { k: 'dg==' },
      stringData: { ignored: 'yes' },
    });
    assert.deepEqual(s, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'n', namespace: 'ns', creationTimestamp: '2026-03-04T05:06:07Z', labels: { a: 'b' } },
      type: 'Opaque',
      data: { k: 'dg==' },
    });
  });

  it('toIdentity drops managedFields and fills apiVersion/kind; writableSecret drops server fields but keeps a resourceVersion precondition', () => {
    const id = toIdentity({ metadata: { name: 'i', namespace: 'n', managedFields: [{}] }, spec: { secretName: 's' } });
    assert.equal(id.kind, 'MutualTLSIdentity');
    assert.equal(id.apiVersion, 'mtls.dev/v1alpha1');
    assert.ok(!('managedFields' in id.metadata));
    const body = writableSecret({
      metadata: { name: 's', namespace: 'n', resourceVersion: '9', uid: 'u', creationTimestamp: 't' },
      data: { a: 'b' },
    });
    assert.deepEqual(body, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n', resourceVersion: '9' }, data: { a: 'b' } });
  });

  it('toConfigMap keeps the ConfigMap fields (string data only); writableConfigMap drops every server field', () => {
    const cm = toConfigMap({
      metadata: { name: 'b', namespace: 'n', creationTimestamp: new Date('2026-03-04T05:06:07.000Z'), managedFields: [{}] },
      data: { 'ca.crt': 'pem' },
      binaryData: { blob: 'AAE=' },
    });
    assert.deepEqual(cm, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'b', namespace: 'n', creationTimestamp: '2026-03-04T05:06:07Z' },
      data: { 'ca.crt': 'pem' },
    });
    const body = writableConfigMap({
      metadata: { name: 'b', namespace: 'n', resourceVersion: '9', uid: 'u', creationTimestamp: 't', labels: { l: 'v' } },
      data: { k: 'v' },
    });
    assert.deepEqual(body, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'n', labels: { l: 'v' } }, data: { k: 'v' } });
  });

  it('isOlder compares numeric resourceVersions only', () => {
    assert.equal(isOlder('9', '10'), true);
    assert.equal(isOlder('10', '10'), false);
    assert.equal(isOlder('11', '10'), false);
    assert.equal(isOlder('abc', '10'), false);
    assert.equal(isOlder(undefined, '10'), false);
  });

  it('listAllPages follows continue tokens and pages again from a new snapshot when a token expires (never one unpaged list)', async () => {
    const calls: (string | undefined)[] = [];
    const pages = await listAllPages(async (limit, cont) => {
      calls.push(cont);
      assert.equal(limit, 500);
      if (cont === undefined) return { metadata: { resourceVersion: '7', _continue: 'p2' }, items: [1, 2] };
      return { metadata: { resourceVersion: '7' }, items: [3] };
    });
    assert.deepEqual(pages, { items: [1, 2, 3], resourceVersion: '7' });
    assert.deepEqual(calls, [undefined, 'p2']);

    const limits: (number | undefined)[] = [];
    let expiredOnce = false;
    const fallback = await listAllPages(async (limit, cont) => {
      limits.push(limit);
      if (cont === undefined) return { metadata: { resourceVersion: expiredOnce ? '9' : '8', continue: 'p2' }, items: ['first'] };
      if (!expiredOnce) {
        expiredOnce = true;
        throw Object.assign(new Error('expired'), { code: 410 });
      }
      return { metadata: { resourceVersion: '9' }, items: ['second'] };
    }, 25);
    assert.deepEqual(fallback, { items: ['first', 'second'], resourceVersion: '9' });
    assert.deepEqual(limits, [25, 25, 25, 25], 'every request is a page of 25; none is unpaged');

    let calls410 = 0;
    await assert.rejects(listAllPages(async (_limit, cont) => {
      if (cont === undefined) return { metadata: { resourceVersion: '1', continue: 'p2' }, items: [] };
      calls410++;
      throw Object.assign(new Error('expired'), { code: 410 });
    }), /expired/);
    assert.equal(calls410, 4, 'three fresh starts, then the error');
  });

  it('classify: clean end, 410, client timeout, other errors', () => {
    assert.equal(classify(null).kind, 'end');
    assert.equal(classify(Object.assign(new Error('Gone'), { statusCode: 410 })).kind, 'gone');
    assert.equal(classify(new DOMException('timeout', 'TimeoutError')).kind, 'watchdog');
    const other = classify(Object.assign(new Error('Forbidden'), { statusCode: 403 }));
    assert.equal(other.kind, 'error');
    assert.match(other.detail ?? '', /403 Forbidden/);
  });

  it('bounded: resolves, times out, or cancels to undefined, clearing its timer each time', async () => {
    assert.equal(await bounded(Promise.resolve(1), 1000, () => new Error('late')).promise, 1);
    const never = new Promise<number>(() => {});
    await assert.rejects(bounded(never, 10, () => new Error('late')).promise, /late/);
    const call = bounded(never, 10_000, () => new Error('late'));
    call.cancel();
    assert.equal(await call.promise, undefined);
  });

  it('the project logger (winston) fits KubeClusterOptions.logger', () => {
    const log: AdapterLogger = silentLogger();
    log.warn('watch restarting', { watch: 'identities' });
  });
});

describe('Reflector lists page by page (issue 11)', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const reflector = (pages: PageFn, normalize: (raw: unknown) => KubeObject) => new Reflector<KubeObject>({
    name: 'test', path: '/api/v1/secrets', query: {}, normalize,
    list: (onItems) => streamPages(pages, 2, onItems),
    watch: { watch: async () => new AbortController() } as unknown as Pick<Watch, 'watch'>,
    onChange() {}, onResync() {}, logger: silent,
    watchdogMs: 60_000, listTimeoutMs: 60_000, backoff: { initialMs: 5, maxMs: 20 }, healthyMs: 20,
  });
  const obj = (name: string) => ({ metadata: { namespace: 'a', name, resourceVersion: '5' } });

  it('asks for the next page before normalizing this one, one page ahead and never more (a relist never holds every raw page), and drops a snapshot whose continue token expired', async () => {
    let normalized = 0;
    const seenAtRequest: number[] = [];
    let expired = false;
    const r = reflector(async (_limit, cont) => {
      seenAtRequest.push(normalized);
      if (cont === undefined) return { metadata: { resourceVersion: '7', continue: 'p2' }, items: [obj(expired ? 'x' : 'old1'), obj(expired ? 'y' : 'old2')] };
      if (cont === 'p2' && !expired) {
        expired = true;
        throw Object.assign(new Error('expired'), { code: 410 });
      }
      if (cont === 'p2') return { metadata: { resourceVersion: '7', continue: 'p3' }, items: [obj('z')] };
      return { metadata: { resourceVersion: '7' }, items: [obj('w')] };
    }, (raw) => {
      normalized++;
      return raw as KubeObject;
    });
    await r.start();
    await r.stop();
    // p2 is asked for as page 1 arrives (0 normalized); it expired, so page 1 again once page 1 was normalized (2);
    // the new p2 as that page arrives (2), p3 as p2 arrives (4): each request waits for the page before it.
    assert.deepEqual(seenAtRequest, [0, 0, 2, 2, 4], 'one page ahead: the request for page k+1 as page k arrives, never sooner');
    assert.deepEqual(r.values().map((o) => o.metadata.name).sort(), ['w', 'x', 'y', 'z'], 'the expired snapshot\'s objects are gone');
  });
});

describe('Reflector hands a large list to the controller in slices (issue 11: event-loop p99)', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };

  it('20,000 listed objects: each emitted once, timers run in between, and start resolves only after the last', async () => {
    const N = 20_000;
    const emitted = new Map<string, number>();
    let ticks = 0;
    let ticksDuringHandover = 0;
    const r = new Reflector<KubeObject>({
      name: 'test', path: '/api/v1/secrets', query: {}, normalize: (raw) => raw as KubeObject,
      list: async (onItems) => {
        onItems(Array.from({ length: N }, (_, i) => ({ metadata: { namespace: 'a', name: `o${i}`, resourceVersion: '5' } })), false);
        return '7';
      },
      watch: { watch: async () => new AbortController() } as unknown as Pick<Watch, 'watch'>,
      onChange(kind, o) {
        const until = performance.now() + 0.005; // a handler's few µs of work
        while (performance.now() < until);
        emitted.set(`${kind} ${o.metadata.name}`, (emitted.get(`${kind} ${o.metadata.name}`) ?? 0) + 1);
        if (emitted.size === 1) ticksDuringHandover = -ticks;
        if (emitted.size === N) ticksDuringHandover += ticks;
      },
      onResync() {}, logger: silent,
      watchdogMs: 60_000, listTimeoutMs: 60_000, backoff: { initialMs: 5, maxMs: 20 }, healthyMs: 20,
    });
    const timer = setInterval(() => ticks++, 0);
    try {
      await r.start();
      assert.equal(emitted.size, N, 'every object emitted before start resolves');
      assert.ok([...emitted].every(([k, n]) => k.startsWith('add ') && n === 1), 'each once, as an add');
      assert.ok(ticksDuringHandover >= 2, `timers ran ${ticksDuringHandover} times while the list was handed over`);
    } finally {
      clearInterval(timer);
      await r.stop();
    }
  });
});

describe('Reflector skips the echo of our own write (issue 11)', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const obj = (name: string, rv: string) => ({ metadata: { namespace: 'a', name, resourceVersion: rv } });

  it('an event bringing exactly the version written through is not emitted, nor normalized; a newer one and a delete are', async () => {
    let send: (type: string, o: unknown) => void = () => {};
    const changes: string[] = [];
    const normalized: string[] = [];
    const r = new Reflector<KubeObject>({
      name: 'secrets', path: '/api/v1/secrets', query: {}, normalize: (raw) => {
        normalized.push((raw as KubeObject).metadata.resourceVersion ?? '');
        return raw as KubeObject;
      },
      list: (onItems) => streamPages(async () => ({ metadata: { resourceVersion: '5' }, items: [obj('s', '5')] }), 25, onItems),
      watch: { watch: async (_p: string, _q: unknown, cb: (type: string, o: unknown) => void) => {
        send = cb;
        return new AbortController();
      } } as unknown as Pick<Watch, 'watch'>,
      onChange: (kind, o) => void changes.push(`${kind} ${o.metadata.resourceVersion}`), onResync() {}, logger: silent,
      watchdogMs: 60_000, listTimeoutMs: 60_000, backoff: { initialMs: 5, maxMs: 20 }, healthyMs: 20, skipEchoes: true,
    });
    await r.start();
    changes.length = 0;
    normalized.length = 0;
    for (let i = 0; i < 50 && !changes.length; i++) {
      r.put(obj('s', '9')); // our write's answer
      send('MODIFIED', obj('s', '9')); // its echo
      send('MODIFIED', obj('s', '10')); // someone else's change
      await new Promise((res) => setTimeout(res, 10));
    }
    send('DELETED', obj('s', '11'));
    await r.stop();
    assert.deepEqual(changes, ['update 10', 'delete 10'], 'the delete carries the last cached copy');
    assert.equal(r.echoes, 1);
    assert.deepEqual(normalized, ['10', '11'], 'the echo is told from its raw metadata, before any normalizing');
  });
});

describe('Reflector.keep: a transform only for the versions the cache stores (issue 11)', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const obj = (name: string, rv: string) => ({ metadata: { namespace: 'a', name, resourceVersion: rv } });
  type Kept = KubeObject & { kept?: boolean };

  it('is called for each listed or watched version the cache takes; never for one older than a written-through copy, nor for a delete', async () => {
    let send: (type: string, o: unknown) => void = () => {};
    const kept: string[] = [];
    let r: Reflector<Kept> | undefined;
    r = new Reflector<Kept>({
      name: 'secrets', path: '/api/v1/secrets', query: {}, normalize: (raw) => ({ ...(raw as Kept) }),
      keep: (o) => {
        kept.push(`${o.metadata.name} ${o.metadata.resourceVersion}`);
        return { ...o, kept: true };
      },
      list: (onItems) => streamPages(async () => {
        r!.put(obj('s', '8')); // our write answered while the list was in flight
        return { metadata: { resourceVersion: '5' }, items: [obj('s', '5'), obj('t', '5')] };
      }, 25, onItems),
      watch: { watch: async (_p: string, _q: unknown, cb: (type: string, o: unknown) => void) => {
        send = cb;
        return new AbortController();
      } } as unknown as Pick<Watch, 'watch'>,
      onChange() {}, onResync() {}, logger: silent,
      watchdogMs: 60_000, listTimeoutMs: 60_000, backoff: { initialMs: 5, maxMs: 20 }, healthyMs: 20, skipEchoes: true,
    });
    await r.start();
    assert.deepEqual(kept, ['t 5'], 'the listed s@5 is older than the copy written through (s@8): not passed to keep');
    for (let i = 0; i < 50 && !kept.includes('s 10'); i++) {
      send('MODIFIED', obj('s', '7')); // older than the cached s@8: dropped
      send('MODIFIED', obj('s', '10'));
      await new Promise((res) => setTimeout(res, 10));
    }
    const cachedS = r.values().find((o) => o.metadata.name === 's');
    send('DELETED', obj('t', '11'));
    await r.stop();
    assert.deepEqual(kept, ['t 5', 's 10'], 'neither the stale s@7 nor the delete reached keep');
    assert.equal(cachedS?.kept, true, 'the cache holds what keep returned');
    assert.equal(cachedS?.metadata.resourceVersion, '10');
    assert.deepEqual(r.values().map((o) => o.metadata.name), ['s'], 'the delete removed t');
  });
});
