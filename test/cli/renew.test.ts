import assert from 'node:assert/strict';
import { ANNOTATION_RENEW_REQUEST } from '../../src/controller/secret.ts';
import { identity } from './fixtures.ts';
import { harness, NOW } from './helpers.ts';
import { MemoryCliClient } from './memory-client.ts';

function world(): MemoryCliClient {
  return new MemoryCliClient()
    .addIdentity(identity('team-a', 'web', { app: 'web', tier: 'front' }))
    .addIdentity(identity('team-a', 'api', { app: 'api', tier: 'back' }))
    .addIdentity(identity('team-a', 'db', { app: 'db', tier: 'back' }))
    .addIdentity(identity('team-b', 'web', { app: 'web', tier: 'front' }));
}

describe('kubectl mtls renew', () => {
  it('one identity: merge-patches the renew-request annotation to now (RFC 3339), nothing else', async () => {
    const h = harness(world());
    const r = await h.run('renew', 'web');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'mutualtlsidentity team-a/web: renewal requested\n');
    assert.deepEqual(h.client.calls, [{ op: 'patch-identity', namespace: 'team-a', name: 'web', body: { [ANNOTATION_RENEW_REQUEST]: NOW.toISOString() } }]);
    assert.equal(h.client.identities.get('team-a/web')!.metadata.annotations![ANNOTATION_RENEW_REQUEST], '2026-03-01T12:00:00.000Z');
    assert.ok(!Number.isNaN(Date.parse(NOW.toISOString())));
  });

  it('-l selector: exactly the matching identities of the namespace', async () => {
    const h = harness(world());
    const r = await h.run('renew', '-l', 'tier=back');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(h.client.writes().sort(), ['patch-identity team-a/api', 'patch-identity team-a/db']);
  });

  it('-l with -A: across namespaces', async () => {
    const h = harness(world());
    await h.run('renew', '-l', 'app=web', '-A');
    assert.deepEqual(h.client.writes().sort(), ['patch-identity team-a/web', 'patch-identity team-b/web']);
  });

  it('--all: every identity of the namespace (-n), or of every namespace (-A)', async () => {
    const h = harness(world());
    await h.run('renew', '--all', '-n', 'team-b');
    assert.deepEqual(h.client.writes(), ['patch-identity team-b/web']);
    const all = harness(world());
    await all.run('renew', '--all', '-A');
    assert.equal(all.client.writes().length, 4);
  });

  it('-o json lists what was renewed', async () => {
    const r = await harness(world()).run('renew', '-l', 'tier in (back)', '-o', 'json');
    const out = JSON.parse(r.stdout);
    assert.equal(out.annotation, ANNOTATION_RENEW_REQUEST);
    assert.equal(out.requestedAt, NOW.toISOString());
    assert.deepEqual(out.renewed.map((x: { name: string }) => x.name).sort(), ['api', 'db']);
  });

  it('nothing matched: says so, patches nothing', async () => {
    const h = harness(world());
    const r = await h.run('renew', '-l', 'app=nope');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'no MutualTLSIdentity matched in namespace team-a\n');
    assert.deepEqual(h.client.calls, []);
  });

  it('refuses ambiguous or missing targets, an unknown identity, a bad selector', async () => {
    const h = harness(world());
    for (const argv of [['renew'], ['renew', 'web', '--all'], ['renew', 'web', '-l', 'a=b'], ['renew', 'web', '-A'], ['renew', 'a', 'b'], ['renew', '--all', '-A', '-n', 'x']]) {
      const r = await h.run(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
    }
    const missing = await h.run('renew', 'nope');
    assert.deepEqual(missing, { code: 1, stdout: '', stderr: 'error: MutualTLSIdentity team-a/nope not found\n' });
    const bad = await h.run('renew', '-l', 'a=b=c');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: LIST mutualtlsidentities: 400 Bad Request: invalid label selector/);
    assert.deepEqual(h.client.calls, []);
  });
});
