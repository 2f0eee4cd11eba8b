import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { TLS_KEY } from '../../src/api/types.ts';
import { namePolicyCheck } from '../../src/controller/policy.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { createLogger } from '../../src/log.ts';
import { caSecret, startHarness, type Harness } from '../support/harness.ts';

const H = 3_600_000;

describe('controller: name policy and key material', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  const policy = (allow = '') =>
    namePolicyCheck({ clusterDomain: 'cluster.local', trustDomain: 'cluster.local', namePolicyFile: 'policy.yaml' }, allow || undefined);

  it("refuses another namespace's service name: PolicyViolation, a Warning Event, no certificate; others unaffected", async () => {
    h = await startHarness({ config: { checkPolicy: policy() } });
    h.identity('good', { dnsNames: ['web.dev.svc'] });
    await h.settle();
    const good = h.leaf('good-mtls')!.serialNumber;
    h.identity('thief', { dnsNames: ['payments.prod.svc'] });
    await h.settle();
    const thief = h.cluster.identities.get('dev/thief')!;
    const ready = thief.status!.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'PolicyViolation');
    assert.match(ready.message, /payments\.prod\.svc/);
    assert.match(ready.message, /namespace "prod"/);
    assert.equal(h.secret('thief-mtls'), undefined);
    const events = h.cluster.events.filter((e) => e.about.name === 'thief');
    assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Warning', 'PolicyViolation']]);
    assert.equal(h.leaf('good-mtls')!.serialNumber, good);
    await h.advance(H);
    assert.equal(h.cluster.events.filter((e) => e.about.name === 'thief').length, 1, 'no Event storm on resync');
  });

  it('refuses IP SANs unless the allow-list holds them', async () => {
    h = await startHarness({ config: { checkPolicy: policy() } });
    h.identity('db', { ipAddresses: ['10.0.0.7'] });
    await h.settle();
    assert.equal(h.cluster.identities.get('dev/db')!.status!.conditions!.find((c) => c.type === 'Ready')!.reason, 'PolicyViolation');
    await h.stop();
    h = await startHarness({
      cluster: h.cluster, time: h.time, root: h.root,
      config: { checkPolicy: policy('allow:\n  - namespaces: [dev]\n    ipRanges: [10.0.0.0/24]\n') },
    });
    await h.settle();
    assert.match(h.leaf('db-mtls')!.subjectAltName!, /IP Address:10\.0\.0\.7/);
  });

  it('no private key reaches logs, Events or status through issue, renew, failure and refusal', async () => {
    const out = new PassThrough();
    let logs = '';
    out.on('data', (d: Buffer) => (logs += d.toString()));
    h = await startHarness({ logger: createLogger('debug', out), config: { checkPolicy: policy() } });
    h.identity('web', { dnsNames: ['web.dev.svc'], privateKey: { algorithm: 'RSA', size: 2048, encoding: 'PKCS1' } });
    h.identity('ed', { privateKey: { algorithm: 'Ed25519' } });
    h.identity('thief', { dnsNames: ['payments.prod.svc'] });
    await h.settle();
    const keys = new Set<string>();
    const collect = () => {
      for (const s of h.cluster.secrets.values()) {
        const pem = unb64(s.data?.[TLS_KEY]);
        if (pem) keys.add(pem);
      }
    };
    collect();
    await h.advance(17 * H); // renewals
    collect();
    h.cluster.failNext('applySecret', new Error('apiserver unavailable'));
    h.identity('web', { dnsNames: ['web.dev.svc', 'web.dev.svc.cluster.local'], privateKey: { algorithm: 'RSA', size: 2048, encoding: 'PKCS1' } });
    await h.settle();
    await h.advance(2000);
    collect();
    const broken = caSecret(h.root);
    broken.data!['tls.key'] = b64('-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKeyBytesThatAreNotAKey0000000000000000000\n-----END PRIVATE KEY-----\n');
    h.cluster.putSecret(broken);
    await h.settle();
    assert.ok(keys.size >= 4, `saw ${keys.size} keys`);
    assert.ok(logs.includes('certificate issued') && logs.includes('issuance failed') && logs.includes('CA not ready'), 'the cycle happened');
    const everything = [logs, JSON.stringify(h.cluster.events), JSON.stringify([...h.cluster.identities.values()].map((i) => i.status))].join('\n');
    assert.doesNotMatch(everything, /PRIVATE KEY/);
    assert.doesNotMatch(everything, /KeyBytesThatAreNotAKey/);
    const caKeyBody = h.root.keyPem.split('\n').slice(1, -2).join('');
    for (const pem of [...keys, h.root.keyPem]) {
      const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
      for (const chunk of [body.slice(0, 24), body.slice(-24), b64(pem).slice(0, 24)]) {
        assert.ok(!everything.includes(chunk), 'no piece of a key');
      }
    }
    assert.ok(caKeyBody.length > 0);
  });

  it('the logger itself withholds a line that carries a private key', () => {
    const out = new PassThrough();
    let logs = '';
    out.on('data', (d: Buffer) => (logs += d.toString()));
    const logger = createLogger('debug', out);
    logger.error('oops', { body: '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----' });
    logger.info('fine', { namespace: 'dev' });
    assert.doesNotMatch(logs, /MHcCAQEE|PRIVATE KEY-----/);
    assert.match(logs, /withheld/);
    assert.match(logs, /"namespace":"dev"/);
  });
});
