import assert from 'node:assert/strict';
import nock from 'nock';
import { CoreV1Api } from '@kubernetes/client-node';
import { EventRecorder } from '../../src/adapter/events.ts';
import { EventStorm, foldedMessage } from '../../src/adapter/event-storm.ts';
import type { ObjectRef } from '../../src/api/types.ts';
import { SERVER, testKubeConfig } from './helpers.ts';

const about = (name: string, namespace = 'team-a'): ObjectRef => ({ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', namespace, name, uid: `uid-${name}` });

describe('EventStorm: a token bucket, then one summary per namespace, type and reason', () => {
  it('admits the burst at once, then perSecond, refilling with the clock up to the burst', () => {
    let now = 0;
    const storm = new EventStorm({ burst: 3, perSecond: 2, now: () => now });
    assert.deepEqual([storm.admit(), storm.admit(), storm.admit(), storm.admit()], [true, true, true, false]);
    now += 499;
    assert.equal(storm.admit(), false, '0.998 of a token is not one');
    now += 1;
    assert.equal(storm.admit(), true, 'one token after 500 ms at 2/s');
    now += 60_000;
    assert.deepEqual([storm.admit(), storm.admit(), storm.admit(), storm.admit()], [true, true, true, false], 'never more than the burst');
  });

  it('folds per namespace, type and reason; a window ends once for all; names are bounded', () => {
    let now = 1_000;
    const storm = new EventStorm({ burst: 1, perSecond: 1, windowMs: 10_000, maxNames: 2, now: () => now });
    const ends = [
      storm.fold(about('a'), 'Normal', 'Issued', 'Issued certificate serial 01'),
      storm.fold(about('b'), 'Normal', 'Issued', 'Issued certificate serial 02'),
      storm.fold(about('c'), 'Normal', 'Issued', 'Issued certificate serial 03'),
      storm.fold(about('d', 'team-b'), 'Normal', 'Issued', 'x'),
      storm.fold(about('e'), 'Warning', 'CANotReady', 'y'),
    ];
    assert.deepEqual(new Set(ends), new Set([11_000]), 'one window for every fold');
    now = 10_999;
    assert.deepEqual(storm.due(), [], 'nothing before the window ends');
    now = 11_000;
    const due = storm.due();
    assert.equal(due.length, 3);
    const issuedA = due.find((f) => f.about.namespace === 'team-a' && f.reason === 'Issued')!;
    assert.equal(issuedA.count, 3);
    assert.deepEqual(issuedA.names, ['a', 'b']);
    assert.equal(issuedA.about.name, 'a', 'about the first object folded');
    assert.equal(issuedA.firstMessage, 'Issued certificate serial 01');
    assert.equal(due.find((f) => f.reason === 'CANotReady')!.type, 'Warning');
    assert.equal(storm.folded, 5);
    assert.deepEqual(storm.due(), [], 'each summary once');
    assert.equal(storm.fold(about('f'), 'Normal', 'Issued', 'z'), 21_000, 'a new window starts with the next fold');
    const msg = foldedMessage(issuedA, storm);
    assert.match(msg, /^3 Normal Issued Events in namespace team-a within 10 s, folded into this one/);
    assert.match(msg, /: a, b and 1 more\. First: Issued certificate serial 01$/);
  });

  it('past maxPending summaries, folded Events are only counted (memory stays bounded under any number of namespaces)', () => {
    const storm = new EventStorm({ burst: 1, maxPending: 2, now: () => 0 });
    for (let i = 0; i < 5; i++) storm.fold(about('x', `ns-${i}`), 'Normal', 'Issued', 'm');
    assert.equal(storm.pendingCount, 2);
    assert.equal(storm.dropped, 3);
    assert.equal(storm.folded, 5);
  });

  it('refuses a bucket that could never admit', () => {
    assert.throws(() => new EventStorm({ burst: 0 }), /burst must be >= 1/);
    assert.throws(() => new EventStorm({ perSecond: 0 }), /perSecond/);
  });
});

describe('EventRecorder in a storm (over HTTP)', () => {
  afterEach(() => nock.cleanAll());

  it('writes the burst one Event each, then one summary Event with count for the rest; stop() writes what is pending', async () => {
    nock.disableNetConnect();
    let now = 0;
    const bodies: Array<Record<string, unknown>> = [];
    const scope = nock(SERVER).persist().post('/api/v1/namespaces/team-a/events', (b) => {
      bodies.push(typeof b === 'string' ? JSON.parse(b) : b);
      return true;
    }).query(true).reply(201, {});
    const rec = new EventRecorder({ core: testKubeConfig().makeApiClient(CoreV1Api), timeoutMs: 5_000, storm: { burst: 2, perSecond: 0.001, windowMs: 10_000 }, now: () => now });
    for (let i = 0; i < 7; i++) await rec.record(about(`svc-${i}`), 'Normal', 'Issued', `Issued certificate serial 0${i}`);
    assert.equal(bodies.length, 2, 'two Events at once (the burst), five folded');
    assert.deepEqual(bodies.map((b) => (b.involvedObject as ObjectRef).name), ['svc-0', 'svc-1']);
    assert.equal(await rec.flushFolded(), 0, 'the window has not ended');
    now = 10_000;
    assert.equal(await rec.flushFolded(), 1);
    const summary = bodies[2]!;
    assert.equal(summary.count, 5);
    assert.equal(summary.reason, 'Issued');
    assert.equal(summary.type, 'Normal');
    assert.equal((summary.involvedObject as ObjectRef).name, 'svc-2');
    assert.match(summary.message as string, /^5 Normal Issued Events in namespace team-a .*: svc-2, svc-3, svc-4, svc-5, svc-6\. First: Issued certificate serial 02$/);
    // a pending summary is written at stop, before its window ends
    await rec.record(about('late'), 'Warning', 'IssuanceFailed', 'boom');
    assert.equal(bodies.length, 3);
    await rec.stop();
    assert.equal(bodies.length, 4);
    assert.equal(bodies[3]!.count, 1);
    assert.equal(bodies[3]!.type, 'Warning');
    scope.persist(false);
  });
});
