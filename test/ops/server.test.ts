import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { silentLogger } from '../../src/log.ts';
import { Health } from '../../src/ops/health.ts';
import { OperatorMetrics } from '../../src/ops/metrics.ts';
import { startOpsServer, type OpsServer } from '../../src/ops/server.ts';
import { FakeTime } from '../support/fake-time.ts';

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ops server: /healthz, /readyz, /metrics over HTTP', () => {
  let time: FakeTime;
  let health: Health;
  let metrics: OperatorMetrics;
  let server: OpsServer;
  let lastEventAt: Record<string, number>;

  beforeEach(async () => {
    time = new FakeTime();
    lastEventAt = { identities: time.now(), secrets: time.now() };
    health = new Health({ clock: time, timers: time, watchStats: () => ({ lastEventAt }), stallMs: 600_000, maxLoopLagMs: 5_000 });
    health.start();
    metrics = new OperatorMetrics({ defaultMetrics: false });
    server = await startOpsServer({ host: '127.0.0.1', port: 0, metrics, health, logger: silentLogger() });
  });
  afterEach(async () => {
    await server.close();
    health.stop();
  });

  it('readyz follows the phase: standby and running are ready; starting, syncing, stopping are not', async () => {
    const expect: Array<[typeof health.phase, number, RegExp]> = [
      ['starting', 503, /starting/],
      ['standby', 200, /standby/],
      ['syncing', 503, /not synced/],
      ['running', 200, /synced/],
      ['stopping', 503, /shutting down/],
    ];
    for (const [phase, status, body] of expect) {
      health.phase = phase;
      const r = await get(server.port, '/readyz');
      assert.equal(r.status, status, phase);
      assert.match(r.body, body);
    }
  });

  it('healthz: ok while watches deliver; 503 naming a watch silent past the stall limit', async () => {
    health.phase = 'running';
    time.advance(300_000);
    lastEventAt.identities = time.now();
    assert.deepEqual([(await get(server.port, '/healthz')).status], [200]);
    time.advance(400_000); // secrets silent for 700 s, identities for 400 s
    const r = await get(server.port, '/healthz');
    assert.equal(r.status, 503);
    assert.match(r.body, /watches stalled: secrets \(700 s\)/);
    assert.doesNotMatch(r.body, /identities/);
    health.phase = 'standby'; // a standby runs no watches
    assert.equal((await get(server.port, '/healthz')).status, 200);
  });

  it('healthz: 503 when the event loop lags', async () => {
    time.advance(3_000);
    assert.equal((await get(server.port, '/healthz')).status, 200);
    time.jump(8_000); // the loop was blocked 8 s: the sampler runs 7 s past its period
    time.advance(1_000);
    const r = await get(server.port, '/healthz');
    assert.equal(r.status, 503);
    assert.match(r.body, /event loop lagging by 7000 ms/);
    time.advance(5_000);
    assert.equal((await get(server.port, '/healthz')).status, 503, 'a spike is remembered for 10 s');
    time.advance(5_000);
    assert.equal((await get(server.port, '/healthz')).status, 200, 'recovers');
  });

  it('metrics: Prometheus text; unknown paths 404; other methods 405; HEAD has no body', async () => {
    metrics.setLeader(true);
    const r = await get(server.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^mtls_leader 1$/m);
    assert.equal((await get(server.port, '/nope')).status, 404);
    assert.equal((await get(server.port, '/metrics', 'POST')).status, 405);
    const head = await get(server.port, '/readyz', 'HEAD');
    assert.deepEqual([head.status, head.body], [503, '']);
  });

  it('metrics at 20,000 identities: written piece by piece (chunked), byte for byte the scrape, timers run meanwhile; HEAD has no body', async () => {
    for (let i = 0; i < 20_000; i++) {
      metrics.identityState(`ns-${i % 50}`, `svc-${i}`, { ready: i % 9 !== 0, reason: 'Ready', notAfter: new Date(2e12 + i), renewalTime: new Date(1.9e12 + i) });
    }
    const whole = await metrics.scrape();
    assert.ok(whole.length > 2_000_000, `the exposition is ${whole.length} bytes`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    let headers: Record<string, unknown> = {};
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/metrics', agent: false }, (res) => {
        headers = res.headers;
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (b += c));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    }).finally(() => clearInterval(timer));
    assert.equal(body, whole);
    assert.equal(headers['transfer-encoding'], 'chunked');
    assert.ok(ticks >= 2, `timers ran ${ticks} times while the scrape was rendered and written`);
    const head = await get(server.port, '/metrics', 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
  });

  it('metrics: a client that stops reading stops the rendering; one that goes away ends it', async () => {
    for (let i = 0; i < 40_000; i++) {
      metrics.identityState(`ns-${i % 50}`, `svc-${i}`, { ready: true, reason: 'Ready', notAfter: new Date(2e12 + i), renewalTime: new Date(1.9e12 + i) });
    }
    const whole = (await metrics.scrape()).length;
    let made = 0;
    let finished = false;
    const counted = {
      contentType: metrics.contentType,
      scrape: () => metrics.scrape(),
      async *scrapeChunks() {
        try {
          for await (const c of metrics.scrapeChunks()) {
            made += c.length;
            yield c;
          }
        } finally {
          finished = true;
        }
      },
    };
    await server.close();
    server = await startOpsServer({ host: '127.0.0.1', port: 0, metrics: counted, health, logger: silentLogger() });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // A client that sends its request and reads nothing: only the kernel's socket buffers take what is written.
    const open = async (): Promise<Socket> => {
      const socket = connect(server.port, '127.0.0.1');
      socket.pause();
      await new Promise((r) => socket.once('connect', r));
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      return socket;
    };
    const slow = await open();
    try {
      await sleep(400);
      const stalled = made;
      await sleep(300);
      assert.equal(made, stalled, 'nothing more is made while the client reads nothing');
      assert.equal(finished, false);
      assert.ok(stalled < whole - 2_000_000, `${stalled} of ${whole} characters made`);
      let received = 0;
      let tail = '';
      const ended = new Promise((r) => slow.on('end', r));
      slow.on('data', (b: Buffer) => {
        received += b.length;
        tail = (tail + b.toString('latin1')).slice(-16);
      });
      slow.resume();
      await ended;
      assert.ok(received > whole && tail.endsWith('\r\n0\r\n\r\n'), `all of it once read on (${received} bytes, chunked)`);
      assert.equal(finished, true);
    } finally {
      slow.destroy();
    }
    // A client that goes away: the rendering ends with it.
    made = 0;
    finished = false;
    const gone = await open();
    await sleep(300);
    gone.destroy();
    for (let i = 0; i < 100 && !finished; i++) await sleep(20);
    assert.equal(finished, true, 'the rendering ended');
    assert.ok(made < whole - 2_000_000, `${made} of ${whole} characters made for a client that left`);
  });

  it('close() returns promptly with an idle keep-alive connection open', async () => {
    await new Promise<void>((resolve) => {
      request({ host: '127.0.0.1', port: server.port, path: '/healthz', headers: { Connection: 'keep-alive' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).end();
    });
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1_000);
    server = { port: 0, close: async () => {} };
  });
});
