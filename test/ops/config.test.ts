import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('config: leader election, metrics and shutdown flags', () => {
  it('trust lifecycle defaults: 20 re-issues/s, 5m propagation (kubelet refresh ~2m + workload reload), 5m skew, no workload restarts', () => {
    const c = loadConfig([], {});
    assert.deepEqual([c.reissuePerSecond, c.propagationDelayMs, c.skewMs, c.allowWorkloadRestart], [20, 300_000, 300_000, false]);
    const d = loadConfig(['--reissue-rate=5', '--rotation-propagation-delay=30s'], { MTLS_ROTATION_SKEW: '1m', MTLS_ALLOW_WORKLOAD_RESTART: 'true' });
    assert.deepEqual([d.reissuePerSecond, d.propagationDelayMs, d.skewMs, d.allowWorkloadRestart], [5, 30_000, 60_000, true]);
  });

  it('defaults: cert-manager timings, port 9402 on all addresses, 20 s grace, election off', () => {
    const c = loadConfig([], {});
    assert.deepEqual(
      [c.leaderElect, c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs, c.metricsPort, c.metricsAddress, c.shutdownGraceMs],
      [false, 60_000, 40_000, 2_000, 9402, '0.0.0.0', 20_000],
    );
  });

  it('issue 19: metrics authenticated by default (health on 8081), ServiceAccounts flagged by default; none / require on request', () => {
    const c = loadConfig([], {});
    assert.deepEqual([c.metricsAuth, c.healthPort, c.healthAddress, c.serviceAccountCheck], ['kubernetes', 8081, '0.0.0.0', 'condition']);
    const d = loadConfig(['--metrics-auth=none', '--health-port=0', '--health-address=127.0.0.1'], { MTLS_REQUIRE_SERVICE_ACCOUNT: 'true' });
    assert.deepEqual([d.metricsAuth, d.healthPort, d.healthAddress, d.serviceAccountCheck], ['none', 0, '127.0.0.1', 'require']);
    for (const [argv, flag] of [[['--metrics-auth=open'], 'metrics-auth'], [['--health-port=70000'], 'health-port'], [['--health-address=host'], 'health-address'], [['--require-service-account=yes'], 'require-service-account']] as const) {
      assert.throws(() => loadConfig([...argv], {}), (e: Error) => e instanceof ConfigError && e.message.startsWith(`--${flag} `), flag);
    }
  });

  it('flags win over variables; Go-style durations', () => {
    const c = loadConfig(['--leader-elect=true', '--leader-election-lease-duration=2m', '--leader-election-renew-deadline=1m30s'], {
      MTLS_LEADER_ELECT: 'false', MTLS_LEADER_ELECTION_RETRY_PERIOD: '2500ms', MTLS_SHUTDOWN_GRACE: '0s',
    });
    assert.deepEqual([c.leaderElect, c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs, c.shutdownGraceMs], [true, 120_000, 90_000, 2_500, 0]);
    for (const bad of ['', '15', '-5s', '1d', 's', '15 s']) {
      assert.throws(() => loadConfig([`--shutdown-grace=${bad}`], {}), /--shutdown-grace .*not a duration/, bad);
    }
  });

  it('every bad value is a ConfigError naming its flag', () => {
    for (const [argv, flag] of [
      [['--leader-election-lease-duration=1500ms'], 'leader-election-lease-duration'],
      [['--leader-election-lease-duration=30s'], 'leader-election-renew-deadline'],
      [['--leader-election-retry-period=40s'], 'leader-election-retry-period'],
      [['--metrics-port=-1'], 'metrics-port'],
      [['--metrics-address=::1x'], 'metrics-address'],
      [['--shutdown-grace=2h'], 'shutdown-grace'],
      [['--reissue-rate=0'], 'reissue-rate'],
      [['--rotation-propagation-delay=soon'], 'rotation-propagation-delay'],
      [['--rotation-skew=2d'], 'rotation-skew'],
      [['--allow-workload-restart=yes'], 'allow-workload-restart'],
    ] as const) {
      assert.throws(() => loadConfig([...argv], {}), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`--${flag} (`), argv.join(' '));
    }
  });
});
