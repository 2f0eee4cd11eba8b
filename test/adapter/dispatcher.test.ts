import assert from 'node:assert/strict';
import { KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { shareDispatcher } from '../../src/adapter/dispatcher.ts';

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  const ctx = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher();
}

describe('adapter: one connection pool per API server', () => {
  it('client-node builds a new dispatcher per request (why this exists)', async () => {
    const kc = kubeConfig();
    const a = await dispatcherOf(kc);
    assert.ok(a, 'TLS options are set, so a dispatcher is made');
    assert.notEqual(await dispatcherOf(kc), a, 'if this fails, client-node reuses dispatchers itself and shareDispatcher can go');
  });

  it('shareDispatcher makes every request use the same one', async () => {
    const kc = kubeConfig();
    assert.equal(shareDispatcher(kc), true);
    const a = await dispatcherOf(kc);
    assert.ok(a);
    for (let i = 0; i < 5; i++) assert.equal(await dispatcherOf(kc), a);
  });
});
