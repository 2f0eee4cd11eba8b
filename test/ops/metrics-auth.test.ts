/**
 * Issue 19, point 8: /metrics as controller-runtime's secure metrics server has it -- HTTPS with a self-signed
 * certificate made at start, each request's bearer token authenticated (TokenReview) and authorized
 * (SubjectAccessReview, get /metrics), answers cached briefly by token hash; probes on their own plain port.
 * (test/real/tenants.test.ts proves the same with the real API server's reviews.)
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { silentLogger } from '../../src/log.ts';
import { MetricsAuth, type ReviewedUser, type Reviewer } from '../../src/ops/metrics-auth.ts';
import { startOpsServer, type OpsServer } from '../../src/ops/server.ts';
import { selfSignedServingCert } from '../../src/pki/serving.ts';

class FakeReviewer implements Reviewer {
  calls: string[] = [];
  fail = false;
  async authenticate(token: string): Promise<ReviewedUser | undefined> {
    this.calls.push(`authn ${token}`);
    if (this.fail) throw new Error('apiserver down');
    return token.startsWith('good-') ? { username: token.slice(5), groups: ['g'] } : undefined;
  }
  async authorize(user: ReviewedUser, verb: string, path: string): Promise<boolean> {
    this.calls.push(`authz ${user.username} ${verb} ${path}`);
    return user.username === 'prometheus';
  }
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; authenticate?: string; cert: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, authenticate: res.headers['www-authenticate'], cert: new X509Certificate((res.socket as unknown as { getPeerCertificate(d: boolean): { raw: Buffer } }).getPeerCertificate(false).raw) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metrics authentication and authorization (issue 19, point 8)', () => {
  it('MetricsAuth: 401 without or with an unknown token, 403 when not allowed, 200 when allowed; cached per token for the TTL; failures not cached', async () => {
    const reviewer = new FakeReviewer();
    let now = 0;
    const auth = new MetricsAuth({ reviewer, now: () => now, ttlMs: 10_000, maxEntries: 2 });
    assert.equal((await auth.check(undefined)).code, 401);
    assert.equal((await auth.check('Basic dXNlcjpwdw==')).code, 401);
    assert.equal((await auth.check('Bearer bad')).code, 401);
    const denied = await auth.check('Bearer good-eve');
    assert.equal(denied.code, 403);
    assert.match((denied as { message: string }).message, /user "eve" may not get \/metrics/);
    assert.deepEqual(await auth.check('Bearer good-prometheus'), { code: 200, user: 'prometheus' });
    assert.deepEqual(reviewer.calls, ['authn bad', 'authn good-eve', 'authz eve get /metrics', 'authn good-prometheus', 'authz prometheus get /metrics']);
    reviewer.calls = [];
    await auth.check('Bearer good-prometheus');
    assert.deepEqual(reviewer.calls, [], 'cached');
    now = 10_000;
    await auth.check('Bearer good-prometheus');
    assert.equal(reviewer.calls.length, 2, 'asked again after the TTL');
    reviewer.fail = true;
    assert.equal((await auth.check('Bearer good-other')).code, 503);
    reviewer.fail = false;
    assert.equal((await auth.check('Bearer good-other')).code, 403, 'a failed review was not cached');
  });

  describe('the HTTPS metrics port and the plain health port', () => {
    let metricsServer: OpsServer;
    let healthServer: OpsServer;
    const reviewer = new FakeReviewer();
    const parts = {
      metrics: { scrape: async () => 'mtls_leader 1\n', contentType: 'text/plain' },
      health: { liveness: () => ({ ok: true, detail: 'ok' }), readiness: () => ({ ok: true, detail: 'ready' }) },
      logger: silentLogger(),
    };
    before(async () => {
      const tls = await selfSignedServingCert({ dnsNames: ['mtls-operator-metrics.mtls-system.svc', 'localhost'], now: new Date() });
      const auth = new MetricsAuth({ reviewer, now: () => Date.now() });
      metricsServer = await startOpsServer({ ...parts, host: '127.0.0.1', port: 0, serve: 'metrics', tls, authorize: (h) => auth.check(h) });
      healthServer = await startOpsServer({ ...parts, host: '127.0.0.1', port: 0, serve: 'health' });
    });
    after(async () => {
      await metricsServer.close();
      await healthServer.close();
    });

    it('/metrics: 401 (with WWW-Authenticate: Bearer) without a token, 403 for a user without the role, 200 with it; served over TLS with a serverAuth certificate', async () => {
      const none = await get(metricsServer.port, '/metrics');
      assert.equal(none.status, 401);
      assert.equal(none.authenticate, 'Bearer');
      assert.equal((await get(metricsServer.port, '/metrics', { Authorization: 'Bearer good-eve' })).status, 403);
      const ok = await get(metricsServer.port, '/metrics', { Authorization: 'Bearer good-prometheus' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body, 'mtls_leader 1\n');
      assert.match(ok.cert.subjectAltName!, /DNS:mtls-operator-metrics\.mtls-system\.svc/);
      assert.deepEqual(ok.cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.equal(ok.cert.ca, false);
      // The health paths are not on the metrics port.
      assert.equal((await get(metricsServer.port, '/healthz', { Authorization: 'Bearer good-prometheus' })).status, 404);
    });

    it('/healthz and /readyz: plain HTTP without a token; /metrics is not served there', async () => {
      assert.equal((await fetch(`http://127.0.0.1:${healthServer.port}/healthz`)).status, 200);
      assert.equal(await (await fetch(`http://127.0.0.1:${healthServer.port}/readyz`)).text(), 'ready\n');
      assert.equal((await fetch(`http://127.0.0.1:${healthServer.port}/metrics`)).status, 404);
    });
  });
});
