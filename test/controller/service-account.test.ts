/**
 * Issue 19, point 6, over the in-memory cluster (test/real/tenants.test.ts proves it on a real kube-apiserver): the
 * ServiceAccount named in the SPIFFE ID. Default: issue, flag ServiceAccountFound=False with a Warning Event, look
 * again every 30 s; --require-service-account: refuse until it exists.
 */
import assert from 'node:assert/strict';
import { TLS_CRT } from '../../src/api/types.ts';
import { SERVICE_ACCOUNT_RETRY_MS, SERVICE_ACCOUNT_SLOW_RETRY_MS, serviceAccountEvent, serviceAccountRetryMs } from '../../src/controller/service-account.ts';
import { ServiceAccountCache } from '../../src/adapter/service-accounts.ts';
import { startHarness, type Harness } from '../support/harness.ts';

const cond = (h: Harness, type: string, name = 'web') => h.cluster.identities.get(`dev/${name}`)?.status?.conditions?.find((c) => c.type === type);

describe('controller: the ServiceAccount in the SPIFFE ID (issue 19, point 6)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('condition (default in main): a missing ServiceAccount is issued for, flagged False with a Warning Event; creating it clears the flag', async () => {
    h = await startHarness({ config: { serviceAccountCheck: 'condition' } });
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'ghost' });
    await h.settle();
    assert.ok(h.secret('web-tls')?.data?.[TLS_CRT], 'issued');
    assert.equal(cond(h, 'Ready')?.status, 'True');
    assert.deepEqual([cond(h, 'ServiceAccountFound')?.status, cond(h, 'ServiceAccountFound')?.reason], ['False', 'ServiceAccountNotFound']);
    assert.match(cond(h, 'ServiceAccountFound')!.message, /ServiceAccount dev\/ghost named in the SPIFFE ID spiffe:\/\/[^ ]+\/ns\/dev\/sa\/ghost does not exist/);
    assert.equal(h.cluster.events.filter((e) => e.reason === 'ServiceAccountNotFound' && e.type === 'Warning').length, 1);
    h.cluster.serviceAccounts.add('dev/ghost');
    await h.advance(SERVICE_ACCOUNT_RETRY_MS + 1_000);
    assert.deepEqual([cond(h, 'ServiceAccountFound')?.status, cond(h, 'ServiceAccountFound')?.reason], ['True', 'ServiceAccountFound']);
    assert.equal(h.cluster.events.filter((e) => e.reason === 'ServiceAccountNotFound').length, 1, 'one Warning, not one per look');
  });

  it('require: nothing is issued for a missing ServiceAccount (Ready=False ServiceAccountNotFound) until it exists', async () => {
    h = await startHarness({ config: { serviceAccountCheck: 'require' } });
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'ghost' });
    await h.settle();
    assert.equal(h.secret('web-tls'), undefined);
    assert.deepEqual([cond(h, 'Ready')?.status, cond(h, 'Ready')?.reason], ['False', 'ServiceAccountNotFound']);
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'False');
    h.cluster.serviceAccounts.add('dev/ghost');
    await h.advance(SERVICE_ACCOUNT_RETRY_MS + 1_000);
    assert.ok(h.secret('web-tls')?.data?.[TLS_CRT]);
    assert.equal(cond(h, 'Ready')?.status, 'True');
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'True');
  });

  it('an existing ServiceAccount: ServiceAccountFound=True and no Event; off (no check): no condition at all', async () => {
    h = await startHarness({ config: { serviceAccountCheck: 'condition' } });
    h.cluster.serviceAccounts.add('dev/web');
    h.identity('web', { serviceAccountName: 'web' });
    await h.settle();
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'True');
    assert.equal(h.cluster.events.filter((e) => e.reason.startsWith('ServiceAccount')).length, 0);
    await h.stop();
    h = await startHarness();
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'ghost' });
    await h.settle();
    assert.equal(cond(h, 'ServiceAccountFound'), undefined);
  });

  it('a restart takes ServiceAccountFound=True from status for 10 minutes when nothing is issued (no lookup per identity); an issuance or a later look asks again', async () => {
    h = await startHarness({ config: { serviceAccountCheck: 'condition' } });
    h.cluster.serviceAccounts.add('dev/web');
    h.cluster.serviceAccounts.add('dev/api-sa');
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'web' });
    h.identity('api', { secretName: 'api-tls', serviceAccountName: 'api-sa' });
    await h.settle();
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'True');
    const { cluster, time } = h;
    await h.stop();
    const lookups: string[] = [];
    const exists = cluster.serviceAccountExists.bind(cluster);
    cluster.serviceAccountExists = async (ns, name) => { lookups.push(`${ns}/${name}`); return exists(ns, name); };
    const writes = cluster.writes.length;
    h = await startHarness({ cluster, time, config: { serviceAccountCheck: 'condition' } });
    assert.equal(lookups.length, 0, 'the restart re-verified both identities without a lookup');
    assert.equal(cluster.writes.length, writes, 'and without a write');
    cluster.serviceAccounts.delete('dev/web');
    cluster.serviceAccounts.delete('dev/api-sa');
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'web', dnsNames: ['web.dev.svc'] }); // a new generation: issued
    await h.settle();
    assert.ok(lookups.includes('dev/web'), 'an issuance looks it up');
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'False');
    const touch = (n: string) => cluster.applyIdentity({ metadata: { name: 'api', namespace: 'dev', annotations: { touched: n } }, spec: { secretName: 'api-tls', serviceAccountName: 'api-sa' } });
    touch('1'); // a new look, same generation, nothing to issue
    await h.settle();
    assert.ok(!lookups.includes('dev/api-sa'), 'within 10 minutes of start, status is taken');
    assert.equal(cond(h, 'ServiceAccountFound', 'api')?.status, 'True');
    await h.advance(10 * 60_000);
    touch('2');
    await h.settle();
    assert.ok(lookups.includes('dev/api-sa'), 'after 10 minutes it is looked up again');
    assert.equal(cond(h, 'ServiceAccountFound', 'api')?.status, 'False');
  });

  it('serviceAccountEvent: Warning on turning False, Normal on turning back, nothing when unchanged or first True', () => {
    const f = { type: 'ServiceAccountFound', status: 'False' as const, reason: 'ServiceAccountNotFound', message: 'm' };
    const t = { ...f, status: 'True' as const, reason: 'ServiceAccountFound' };
    const prev = (status: 'True' | 'False') => ({ ...f, status, lastTransitionTime: '' });
    assert.equal(serviceAccountEvent(undefined, f)?.type, 'Warning');
    assert.equal(serviceAccountEvent(prev('True'), f)?.type, 'Warning');
    assert.equal(serviceAccountEvent(prev('False'), f), undefined);
    assert.equal(serviceAccountEvent(prev('False'), t)?.type, 'Normal');
    assert.equal(serviceAccountEvent(undefined, t), undefined);
  });

  it('a missing ServiceAccount is looked for every 30 s for 5 minutes, then every 5 minutes (no reconcile every 30 s forever)', async () => {
    const at = (iso: string) => ({ type: 'ServiceAccountFound', status: 'False' as const, reason: 'ServiceAccountNotFound', message: 'm', lastTransitionTime: iso });
    const t0 = Date.parse('2026-11-30T12:00:00Z');
    assert.equal(serviceAccountRetryMs(undefined, t0), SERVICE_ACCOUNT_RETRY_MS);
    assert.equal(serviceAccountRetryMs(at('2026-11-30T12:00:00Z'), t0 + 60_000), SERVICE_ACCOUNT_RETRY_MS);
    assert.equal(serviceAccountRetryMs(at('2026-11-30T12:00:00Z'), t0 + SERVICE_ACCOUNT_SLOW_RETRY_MS), SERVICE_ACCOUNT_SLOW_RETRY_MS);
    h = await startHarness({ config: { serviceAccountCheck: 'condition' } });
    h.identity('web', { secretName: 'web-tls', serviceAccountName: 'ghost' });
    await h.settle();
    await h.advance(SERVICE_ACCOUNT_SLOW_RETRY_MS + 60_000);
    // Past 5 minutes flagged: the next look is 5 minutes away, so 30 s after creating it the flag is still up...
    h.cluster.serviceAccounts.add('dev/ghost');
    await h.advance(SERVICE_ACCOUNT_RETRY_MS + 1_000);
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'False');
    // ...and within 5 minutes it is cleared.
    await h.advance(SERVICE_ACCOUNT_SLOW_RETRY_MS);
    assert.equal(cond(h, 'ServiceAccountFound')?.status, 'True');
  });

  it('ServiceAccountCache: one GET per name per TTL, 404 is false, other errors throw, bounded', async () => {
    let now = 0;
    const gets: string[] = [];
    const c = new ServiceAccountCache({
      now: () => now, ttlMs: 10_000, maxEntries: 3,
      get: async (ns, name) => {
        gets.push(`${ns}/${name}`);
        if (name === 'boom') throw Object.assign(new Error('down'), { code: 503 });
        if (name.startsWith('no')) throw Object.assign(new Error('nf'), { code: 404 });
        return {};
      },
    });
    assert.equal(await c.exists('a', 'yes'), true);
    assert.equal(await c.exists('a', 'yes'), true);
    assert.equal(await c.exists('a', 'no'), false);
    assert.deepEqual(gets, ['a/yes', 'a/no']);
    now = 10_000;
    assert.equal(await c.exists('a', 'yes'), true);
    assert.equal(gets.length, 3, 'asked again after the TTL');
    await assert.rejects(c.exists('a', 'boom'), /down/);
    for (let i = 0; i < 10; i++) await c.exists('a', `no-${i}`);
    assert.equal(c.size, 3);
  });
});
