import assert from 'node:assert/strict';
import type { ConfigMap, Secret } from '../../src/api/types.ts';
import { ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_ABORT, ROTATION_CONFIGMAP } from '../../src/controller/ca-source.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import type { CAMaterial } from '../../src/pki/types.ts';
import { harness, NOW } from './helpers.ts';
import { MemoryCliClient } from './memory-client.ts';

function caSecret(name = 'mtls-root-ca', annotations: Record<string, string> = {}): Secret {
  return { metadata: { name, namespace: 'mtls-system', annotations }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } };
}

const b64 = (t: string) => Buffer.from(t).toString('base64');
function realCa(name: string, ca: CAMaterial, keyPem = ca.keyPem): Secret {
  return { metadata: { name, namespace: 'mtls-system' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(keyPem) } };
}

function state(data: Record<string, string>): ConfigMap {
  return {
    metadata: { name: ROTATION_CONFIGMAP, namespace: 'mtls-system' },
    data: { request: 'generate', since: '2026-03-01T10:00:00.000Z', newRootSecret: 'mtls-root-ca-abc', newRootFingerprint: 'ab'.repeat(32), oldRootFingerprint: 'cd'.repeat(32), done: '0', total: '0', message: 'm', ...data },
  };
}

describe('kubectl mtls rotate-root', () => {
  it('start, generated root: annotates the CA Secret rotate-to=generate (and clears a stale abort)', async () => {
    const h = harness(new MemoryCliClient().addSecret(caSecret('mtls-root-ca', { [ANNOTATION_ROTATION_ABORT]: 'old' })));
    const r = await h.run('rotate-root');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Root rotation to a root the operator generates requested/);
    assert.deepEqual(h.client.calls, [{ op: 'patch-secret', namespace: 'mtls-system', name: 'mtls-root-ca', body: { [ANNOTATION_ROTATE_TO]: 'generate', [ANNOTATION_ROTATION_ABORT]: null } }]);
    assert.deepEqual(h.client.secrets.get('mtls-system/mtls-root-ca')!.metadata.annotations, { [ANNOTATION_ROTATE_TO]: 'generate' });
  });

  it('start, given root: the Secret must exist in the CA namespace', async () => {
    const next = await generateRootCA({ now: new Date(NOW.getTime() - 3_600_000) });
    const h = harness(new MemoryCliClient().addSecret(caSecret()).addSecret(realCa('next-root', next)));
    const r = await h.run('rotate-root', '--new-root-secret', 'next-root');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(h.client.secrets.get('mtls-system/mtls-root-ca')!.metadata.annotations![ANNOTATION_ROTATE_TO], 'next-root');
    const missing = await harness(new MemoryCliClient().addSecret(caSecret())).run('rotate-root', '--new-root-secret', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: Secret mtls-system\/nope not found: create the new root there first/);
  });

  it('start refuses on the spot, in one line, a target the operator would refuse: a key that does not match, the current root, not a CA', async () => {
    const now = new Date(NOW.getTime() - 3_600_000);
    const [current, next, other] = await Promise.all([generateRootCA({ now }), generateRootCA({ now }), generateRootCA({ now })]);
    const client = () => new MemoryCliClient().addSecret(realCa('mtls-root-ca', current))
      .addSecret(realCa('mismatched', next, other.keyPem)).addSecret(realCa('same', current)).addSecret(caSecret('junk'));
    const cases: Array<[string, RegExp]> = [
      ['mismatched', /^error: Secret mtls-system\/mismatched is not a usable CA \(tls\.key does not match the signing certificate.*\): the operator would refuse it\n$/],
      ['same', /^error: Secret mtls-system\/same holds the CA that already signs \([0-9a-f]{64}\): nothing to rotate to\n$/],
      ['junk', /^error: Secret mtls-system\/junk is not a usable CA/],
    ];
    for (const [target, want] of cases) {
      const h = harness(client());
      const r = await h.run('rotate-root', '--new-root-secret', target);
      assert.equal(r.code, 1, target);
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.deepEqual(h.client.calls, [], 'nothing annotated');
    }
  });

  it('--status says a refused request is refused, and names identities that cannot be re-issued', async () => {
    const refused = harness(new MemoryCliClient().addSecret(caSecret('mtls-root-ca', { [ANNOTATION_ROTATE_TO]: 'generate' }))
      .addConfigMap({ metadata: { name: ROTATION_CONFIGMAP, namespace: 'mtls-system' }, data: { refused: 'generate: the CA Secret\'s CA does not load (expired)' } }));
    const r = await refused.run('rotate-root', '--status');
    assert.equal(r.stdout, "Rotation to generate requested and refused by the operator: the CA Secret's CA does not load (expired)\n");
    const blocked = await harness(new MemoryCliClient().addSecret(caSecret()).addConfigMap(state({ phase: 'Active', blocked: 'dev/a,dev/b' }))).run('rotate-root', '--status');
    assert.match(blocked.stdout, /Cannot re-issue:\s+dev\/a, dev\/b/);
  });

  it('start refused while a rotation runs, or without a CA Secret', async () => {
    const running = harness(new MemoryCliClient().addSecret(caSecret()).addConfigMap(state({ phase: 'Active' })));
    const r = await running.run('rotate-root');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: a root rotation is already running \(phase Active, new root mtls-root-ca-abc\)/);
    assert.deepEqual(running.client.calls, []);
    const none = await harness(new MemoryCliClient()).run('rotate-root');
    assert.equal(none.stderr, 'error: CA Secret mtls-system/mtls-root-ca not found (create it with init-root)\n');
  });

  it('--abort while Prepared: annotates rotation-abort=<now>', async () => {
    const h = harness(new MemoryCliClient().addSecret(caSecret('mtls-root-ca', { [ANNOTATION_ROTATE_TO]: 'generate' })).addConfigMap(state({ phase: 'Prepared' })));
    const r = await h.run('rotate-root', '--abort');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(h.client.calls, [{ op: 'patch-secret', namespace: 'mtls-system', name: 'mtls-root-ca', body: { [ANNOTATION_ROTATION_ABORT]: NOW.toISOString() } }]);
  });

  it('--abort refused once Active, or with nothing running', async () => {
    const active = await harness(new MemoryCliClient().addSecret(caSecret()).addConfigMap(state({ phase: 'Active' }))).run('rotate-root', '--abort');
    assert.equal(active.code, 1);
    assert.match(active.stderr, /the new CA already signs, it can no longer be aborted/);
    const idle = await harness(new MemoryCliClient().addSecret(caSecret()).addConfigMap(state({ phase: 'Retired' }))).run('rotate-root', '--abort');
    assert.equal(idle.stderr, 'error: no root rotation is running\n');
  });

  it('--status prints the state ConfigMap; -o json', async () => {
    const h = harness(new MemoryCliClient().addSecret(caSecret()).addConfigMap(state({ phase: 'Active', done: '3', total: '7', message: '3 of 7 leaves re-issued by the new CA' })));
    const r = await h.run('rotate-root', '--status');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Phase:\s+Active/);
    assert.match(r.stdout, /Progress:\s+3\/7/);
    assert.match(r.stdout, /Message:\s+3 of 7 leaves re-issued/);
    assert.match(r.stdout, new RegExp(`New root:\\s+${'ab'.repeat(32)} \\(Secret mtls-root-ca-abc\\)`));
    const json = JSON.parse((await h.run('rotate-root', '--status', '-o', 'json')).stdout);
    assert.equal(json.rotation.phase, 'Active');
    assert.equal(json.rotation.done, 3);
    const none = await harness(new MemoryCliClient().addSecret(caSecret())).run('rotate-root', '--status');
    assert.equal(none.stdout, 'No root rotation has run\n');
  });

  it('--status --watch polls until Retired, printing each change', async () => {
    const client = new MemoryCliClient().addSecret(caSecret('mtls-root-ca', { [ANNOTATION_ROTATE_TO]: 'generate' }));
    const h = harness(client);
    const phases = [state({ phase: 'Prepared' }), state({ phase: 'Prepared' }), state({ phase: 'Active', done: '1', total: '2' }), state({ phase: 'Retired', done: '2', total: '2', message: 'done' })];
    h.onSleep = (n) => {
      client.addConfigMap(phases[n - 1]!);
    };
    const r = await h.run('rotate-root', '--status', '--watch', '--interval', '1s');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(h.sleeps, [1000, 1000, 1000, 1000]);
    const lines = r.stdout.trim().split('\n').map((l) => l.slice(25));
    assert.deepEqual(lines, ['no rotation yet', 'Prepared: m', 'Active: m (1/2)', 'Retired: done (2/2)']);
  });

  it('bad combinations are usage errors', async () => {
    const h = harness(new MemoryCliClient().addSecret(caSecret()));
    for (const argv of [['--status', '--abort'], ['--abort', '--new-root-secret', 'x'], ['--watch'], ['--status', '--interval', 'soon'], ['extra']]) {
      const r = await h.run('rotate-root', ...argv);
      assert.equal(r.code, 2, argv.join(' '));
    }
  });
});
