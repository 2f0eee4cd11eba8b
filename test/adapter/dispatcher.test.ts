import assert from 'node:assert/strict';
import { KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sameOptions, shareDispatcher } from '../../src/adapter/dispatcher.ts';

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

  it('a CA file rewritten on disk gets a new dispatcher; the same bytes keep the old one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtls-dispatcher-'));
    try {
      const caFile = join(dir, 'ca.crt');
      writeFileSync(caFile, 'first CA bytes');
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caFile }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      assert.equal(shareDispatcher(kc), true);
      const a = await dispatcherOf(kc);
      writeFileSync(caFile, 'first CA bytes');
      assert.equal(await dispatcherOf(kc), a, 'same content, same pool');
      writeFileSync(caFile, 'rotated CA bytes');
      const b = await dispatcherOf(kc);
      assert.notEqual(b, a, 'a rotated CA must not reuse connections verified against the old one');
      assert.equal(await dispatcherOf(kc), b);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sameOptions compares bytes by content and objects key by key', () => {
    const opts = (ca: string, extra: Record<string, unknown> = {}) =>
      ({ type: 'agent', connect: { ca: Buffer.from(ca), keepAlive: true, keepAliveInitialDelay: 30000, ...extra } });
    assert.equal(sameOptions(opts('x'), opts('x')), true);
    assert.equal(sameOptions(opts('x'), opts('y')), false);
    assert.equal(sameOptions(opts('x'), opts('xx')), false);
    assert.equal(sameOptions(opts('x'), opts('x', { servername: 'a' })), false);
    assert.equal(sameOptions(opts('x', { servername: undefined }), opts('x', { cert: undefined })), false);
    assert.equal(sameOptions({ type: 'none' }, { type: 'none' }), true);
    assert.equal(sameOptions(null, { type: 'none' }), false);
    assert.equal(sameOptions([1, 2], { 0: 1, 1: 2 }), false);
    assert.equal(sameOptions(Buffer.from('ab'), new Uint8Array([97, 98])), true);
  });
});
