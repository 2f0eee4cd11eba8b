/**
 * Zero failed handshakes across a root rotation: real node TLS between workloads holding what
 * their mounted Secrets hold at each phase (leaf, key, ca.crt).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { CA_CRT, TLS_CRT, TLS_KEY, type Secret } from '../../src/api/types.ts';
import { unb64 } from '../../src/controller/secret.ts';
import { bundleFingerprints } from '../../src/pki/index.ts';
import { FakeTime } from '../support/fake-time.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { requestRotation, rotation, until } from '../support/rotation.ts';

interface Mount {
  cert: string;
  key: string;
  ca: string;
}

function mount(s: Secret): Mount {
  return { cert: unb64(s.data![TLS_CRT])!, key: unb64(s.data![TLS_KEY])!, ca: unb64(s.data![CA_CRT])! };
}

/** A mutual-TLS exchange: true when both sides accepted each other. */
async function handshake(server: Mount, client: Mount): Promise<boolean> {
  const srv = tls.createServer({ cert: server.cert, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true }, (s) => s.end('ok'));
  srv.on('tlsClientError', (e) => { if (process.env.DEBUG_TLS) console.error('server:', e.message); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise<boolean>((resolve) => {
      let reply = '';
      const sock = tls.connect({ host: '127.0.0.1', port, cert: client.cert, key: client.key, ca: client.ca, checkServerIdentity: () => undefined });
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (reply += d));
      sock.on('error', (e) => { if (process.env.DEBUG_TLS) console.error(e.message); resolve(false); });
      sock.on('close', () => resolve(reply === 'ok'));
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe('root rotation: handshakes keep working', () => {
  let h: Harness;
  after(async () => {
    await h?.stop();
  });

  it('old-root and new-root leaves accept each other during the rotation; after Retired an old-root leaf is refused', async () => {
    // The fake clock starts at the real time: node's TLS checks validity against the real clock.
    h = await startHarness({ time: new FakeTime(Date.now()), config: { propagationDelayMs: 1000, skewMs: 1000, checkIntervalMs: 1000, reissuePerSecond: 1 } });
    h.identity('server', { duration: '1h' });
    h.identity('client', { duration: '1h' });
    await h.settle();
    const before = { server: mount(h.secret('server-mtls')!), client: mount(h.secret('client-mtls')!) };
    assert.ok(await handshake(before.server, before.client), 'baseline');

    requestRotation(h);
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Prepared');
    // Bundle updates are rate-limited too: wait until both Secrets carry both roots.
    const roots = (name: string) => bundleFingerprints(unb64(h.secret(name)!.data![CA_CRT])!).length;
    for (let i = 0; i < 10 && (roots('server-mtls') < 2 || roots('client-mtls') < 2); i++) await h.advance(250);
    assert.equal(rotation(h)!.phase, 'Prepared');
    const prepared = { server: mount(h.secret('server-mtls')!), client: mount(h.secret('client-mtls')!) };
    assert.equal(prepared.client.cert, before.client.cert, 'Prepared: same leaf, wider bundle');
    // Kubelet refreshes mounts lazily: one side may still hold the old bundle.
    assert.ok(await handshake(prepared.server, before.client));
    assert.ok(await handshake(before.server, prepared.client));

    await until(h, 'Active', 500);
    const reissued = (name: string, old: Mount) => unb64(h.secret(name)!.data![TLS_CRT]) !== old.cert;
    for (let i = 0; i < 20 && !(reissued('server-mtls', prepared.server) && reissued('client-mtls', prepared.client)); i++) await h.advance(500);
    const active = { server: mount(h.secret('server-mtls')!), client: mount(h.secret('client-mtls')!) };
    assert.notEqual(active.server.cert, prepared.server.cert, 'the server holds a new-root leaf');
    // A new-root server and an old-root client (and the reverse) both succeed with their bundles.
    assert.ok(await handshake(active.server, prepared.client), 'new-root server, old-root client');
    assert.ok(await handshake(prepared.server, active.client), 'old-root server, new-root client');

    await until(h, 'Retired', 60_000);
    const retiredBundle = unb64(h.secret('server-mtls')!.data![CA_CRT])!;
    assert.notEqual(retiredBundle, active.server.ca);
    assert.equal(await handshake({ ...active.server, ca: retiredBundle }, prepared.client), false, 'after Retired an old-root leaf is refused');
    assert.notEqual(active.client.cert, prepared.client.cert, 'the client holds a new-root leaf too');
    assert.ok(await handshake({ ...active.server, ca: retiredBundle }, { ...active.client, ca: retiredBundle }), 'new-root leaves work with the retired bundle');
  });
});
