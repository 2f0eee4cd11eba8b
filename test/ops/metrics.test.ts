import assert from 'node:assert/strict';
import { Slicer } from '../../src/slice.ts';
import { IdentityMetrics } from '../../src/ops/identity-metrics.ts';
import { X509Certificate } from 'node:crypto';
import { ClusterError } from '../../src/cluster/port.ts';
import { OperatorMetrics } from '../../src/ops/metrics.ts';
import { startHarness, type Harness } from '../support/harness.ts';

/** Sample lines of the exposition text (no # HELP / # TYPE). */
function samples(text: string): string[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#'));
}

function value(text: string, series: string): number | undefined {
  const line = samples(text).find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const epochSeconds = (pem: X509Certificate): number => Date.parse(pem.validTo) / 1000;

describe('metrics after a known sequence through the controller', () => {
  let h: Harness;
  let metrics: OperatorMetrics;

  beforeEach(async () => {
    metrics = new OperatorMetrics({ defaultMetrics: false });
    h = await startHarness({ observer: metrics });
    metrics.bind({ queueDepth: () => h.controller.queue.length });
  });
  afterEach(async () => {
    await h.stop();
  });

  it('issuances, expiry and renewal gauges, ready status, CA expiry, removal', async () => {
    h.identity('a');
    h.identity('b');
    await h.settle();
    h.cluster.failNext('applySecret', new ClusterError(500, 'InternalError', 'etcd is sulking'));
    h.identity('c');
    await h.settle();
    h.identity('bad', { duration: '90d' });
    await h.settle();

    let text = await metrics.scrape();
    const lines = samples(text);
    for (const expected of [
      'mtls_issuance_total{result="success",reason="SecretMissing"} 2',
      'mtls_issuance_total{result="failure",reason="SecretMissing"} 1',
      'mtls_identity_ready_status{namespace="dev",name="a",condition="True"} 1',
      'mtls_identity_ready_status{namespace="dev",name="a",condition="False"} 0',
      'mtls_identity_ready_status{namespace="dev",name="c",condition="True"} 0',
      'mtls_identity_ready_status{namespace="dev",name="c",condition="False"} 1',
      'mtls_identity_ready_status{namespace="dev",name="bad",condition="True"} 0',
      'mtls_identity_ready_status{namespace="dev",name="bad",condition="False"} 1',
      'mtls_queue_depth 0',
      'mtls_leader 0',
      'mtls_reconcile_duration_seconds_count{outcome="error"} 1',
    ]) {
      assert.ok(lines.includes(expected), `missing: ${expected}\n${text}`);
    }
    assert.equal(lines.filter((l) => l.startsWith('mtls_issuance_total')).length, 2, 'InvalidSpec is not an issuance');
    for (const name of ['a', 'b']) {
      const leaf = h.leaf(`${name}-mtls`)!;
      assert.equal(value(text, `mtls_identity_expiration_timestamp_seconds{namespace="dev",name="${name}"}`), epochSeconds(leaf));
      const renewal = h.cluster.identities.get(`dev/${name}`)!.status!.renewalTime!;
      assert.equal(value(text, `mtls_identity_renewal_timestamp_seconds{namespace="dev",name="${name}"}`), Date.parse(renewal) / 1000);
    }
    assert.equal(value(text, 'mtls_identity_expiration_timestamp_seconds{namespace="dev",name="c"}'), undefined, 'nothing issued for c yet');
    assert.equal(value(text, 'mtls_ca_expiration_timestamp_seconds'), epochSeconds(new X509Certificate(h.root.certPem)));
    assert.ok(value(text, 'mtls_reconcile_duration_seconds_count{outcome="success"}')! >= 4);

    // The failed issuance is retried after its backoff and succeeds.
    await h.advance(1_000);
    h.cluster.deleteIdentity('dev', 'a');
    await h.settle();
    metrics.setLeader(true);
    text = await metrics.scrape();
    assert.equal(value(text, 'mtls_issuance_total{result="success",reason="SecretMissing"}'), 3);
    assert.equal(value(text, 'mtls_identity_ready_status{namespace="dev",name="c",condition="True"}'), 1);
    assert.equal(value(text, 'mtls_identity_expiration_timestamp_seconds{namespace="dev",name="c"}'), epochSeconds(h.leaf('c-mtls')!));
    assert.deepEqual(samples(text).filter((l) => l.includes('name="a"')), [], 'a removed identity leaves no series');
    assert.equal(value(text, 'mtls_leader'), 1);
  });

  it('a failed renewal of a Ready identity keeps it Ready; a CA that goes away drops the CA gauge', () => {
    metrics.identityState('dev', 'x', { ready: true, reason: 'Ready', notAfter: new Date(2_000_000_000_000), renewalTime: new Date(1_900_000_000_000) });
    metrics.issuance('dev', 'x', 'RenewalTimeReached', 'failure');
    metrics.issuance('dev', 'y', 'RenewalTimeReached', 'failure');
    metrics.caLoaded(undefined);
    return metrics.scrape().then((text) => {
      assert.equal(value(text, 'mtls_identity_ready_status{namespace="dev",name="x",condition="True"}'), 1);
      assert.equal(value(text, 'mtls_identity_ready_status{namespace="dev",name="y",condition="False"}'), 1);
      assert.equal(value(text, 'mtls_identity_expiration_timestamp_seconds{namespace="dev",name="x"}'), 2_000_000_000);
      assert.equal(value(text, 'mtls_identity_renewal_timestamp_seconds{namespace="dev",name="x"}'), 1_900_000_000);
      assert.equal(value(text, 'mtls_ca_expiration_timestamp_seconds'), undefined);
    });
  });

  it('the root rotation phase, driven through a real rotation', async () => {
    const before = await metrics.scrape();
    assert.equal(value(before, 'mtls_root_rotation_phase{phase="Prepared"}'), undefined, 'absent before any rotation');
    h.identity('web');
    await h.settle();
    const ca = structuredClone(h.cluster.secrets.get('mtls-system/mtls-root-ca')!);
    ca.metadata.annotations = { 'mtls.dev/rotate-to': 'generate' };
    h.cluster.putSecret(ca);
    await h.settle();
    await h.advance(10_000);
    const text = await metrics.scrape();
    assert.equal(value(text, 'mtls_root_rotation_phase{phase="Prepared"}'), 1);
    assert.equal(value(text, 'mtls_root_rotation_phase{phase="Active"}'), 0);
  });

  it('queue depth and watch restarts are read at scrape time', async () => {
    const m = new OperatorMetrics({ defaultMetrics: false });
    let restarts: Record<string, number> = { identities: 0 };
    m.bind({ queueDepth: () => 7, watchRestarts: () => restarts });
    let text = await m.scrape();
    assert.equal(value(text, 'mtls_queue_depth'), 7);
    assert.equal(value(text, 'mtls_informer_restarts_total{watch="identities"}'), 0);
    restarts = { identities: 2, 'secrets/team-a': 5 };
    text = await m.scrape();
    assert.equal(value(text, 'mtls_informer_restarts_total{watch="identities"}'), 2);
    assert.equal(value(text, 'mtls_informer_restarts_total{watch="secrets/team-a"}'), 5);
    assert.match(text, /# TYPE mtls_informer_restarts_total counter/);
    assert.match(text, /# TYPE mtls_reconcile_duration_seconds histogram/);
  });

  it('own registry: default process metrics, nothing in the global registry', async () => {
    const { register } = await import('prom-client');
    const m = new OperatorMetrics();
    const text = await m.scrape();
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.equal((await register.metrics()).includes('mtls_'), false);
  });
});

describe('per-identity metric families (issue 11): rendered at scrape time, in slices', () => {
  it('renders the three families as prom-client did, escapes label values, and drops removed identities', async () => {
    const m = new IdentityMetrics();
    m.setReady('dev', 'a', true);
    m.setTimes('dev', 'a', new Date(2_000_000_000_000), new Date(1_900_000_000_500));
    m.setReady('dev', 'we"ird\\name', false);
    const text = await m.render();
    assert.equal(text, [
      '# HELP mtls_identity_expiration_timestamp_seconds The date after which the identity\'s certificate expires, in seconds since the epoch.',
      '# TYPE mtls_identity_expiration_timestamp_seconds gauge',
      'mtls_identity_expiration_timestamp_seconds{namespace="dev",name="a"} 2000000000',
      '# HELP mtls_identity_renewal_timestamp_seconds The time the identity\'s certificate will be renewed, in seconds since the epoch.',
      '# TYPE mtls_identity_renewal_timestamp_seconds gauge',
      'mtls_identity_renewal_timestamp_seconds{namespace="dev",name="a"} 1900000000.5',
      '# HELP mtls_identity_ready_status The Ready condition of the identity: 1 for its current status (True or False), 0 for the other.',
      '# TYPE mtls_identity_ready_status gauge',
      'mtls_identity_ready_status{namespace="dev",name="a",condition="True"} 1',
      'mtls_identity_ready_status{namespace="dev",name="a",condition="False"} 0',
      'mtls_identity_ready_status{namespace="dev",name="we\\"ird\\\\name",condition="True"} 0',
      'mtls_identity_ready_status{namespace="dev",name="we\\"ird\\\\name",condition="False"} 1',
      '',
    ].join('\n'));
    m.remove('dev', 'a');
    m.remove('dev', 'we"ird\\name');
    assert.equal(await m.render(), '', 'no family without a sample');
  });

  it('hands the text out in bounded chunks, each made as it is asked for, in family order', async () => {
    const m = new IdentityMetrics();
    for (let i = 0; i < 5_000; i++) {
      m.setReady('ns', `svc-${i}`, true);
      m.setTimes('ns', `svc-${i}`, new Date(2e12 + i * 1000), new Date(1.9e12 + i * 1000));
    }
    const size = 16 * 1024;
    const gen = m.chunks(new Slicer(), size);
    const first = await gen.next();
    assert.equal(first.done, false);
    assert.ok(first.value!.startsWith('# HELP mtls_identity_expiration_timestamp_seconds'));
    // Changed after the first chunk was handed out: a whole text rendered up front would not show it.
    m.setReady('ns', 'svc-4999', false);
    const rest: string[] = [];
    for await (const c of gen) rest.push(c);
    const chunks = [first.value!, ...rest];
    const longestLine = 120;
    for (const c of chunks) assert.ok(c.length < size + 2 * longestLine, `a chunk of ${c.length} characters`);
    assert.ok(chunks.length >= 20, `${chunks.length} chunks`);
    const text = chunks.join('');
    assert.match(text, /^mtls_identity_ready_status\{namespace="ns",name="svc-4999",condition="False"\} 1$/m);
    const families = text.split('\n').filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]);
    assert.deepEqual(families, ['mtls_identity_expiration_timestamp_seconds', 'mtls_identity_renewal_timestamp_seconds', 'mtls_identity_ready_status']);
    assert.ok(chunks.every((c) => c.endsWith('\n')), 'each chunk ends at a line');
    assert.equal(text, await m.render(), 'the chunks are the text');
  });

  it('gives the event loop back while rendering 20,000 identities (timers run during a scrape), and slicing changes no byte', async () => {
    const m = new IdentityMetrics();
    for (let i = 0; i < 20_000; i++) {
      m.setReady(`ns-${i % 50}`, `svc-${i}`, i % 7 !== 0);
      if (i % 3 !== 0) m.setTimes(`ns-${i % 50}`, `svc-${i}`, new Date(2e12 + i), new Date(1.9e12 + i));
    }
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const sliced = new Slicer(1);
      const text = await m.render(sliced);
      assert.equal(text.split('\n').filter((l) => l.startsWith('mtls_identity_ready_status{')).length, 40_000);
      assert.ok(sliced.pauses >= 2 && ticks >= 2, `paused ${sliced.pauses} times, timers ran ${ticks} times during the render`);
      ticks = 0;
      const whole = new Slicer(Number.POSITIVE_INFINITY); // one slice: nothing in between
      assert.equal(await m.render(whole), text, 'the same text whatever the slices');
      assert.equal(whole.pauses, 0);
      assert.equal(ticks, 0);
      const everyLine = await m.render(new Slicer(0)); // a pause after every identity
      assert.equal(everyLine, text);
    } finally {
      clearInterval(timer);
    }
  });
});
