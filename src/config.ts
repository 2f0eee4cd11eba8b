/**
 * Operator configuration from flags and environment (a flag wins over its variable). Every
 * value is checked at start; a bad one is a ConfigError naming the flag, and main exits non-zero.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parseDuration } from './api/spec.ts';

export interface OperatorConfig {
  operatorNamespace: string;
  caSecretName: string;
  bootstrapCA: boolean;
  trustDomain: string;
  clusterDomain: string;
  /** Namespaces whose identities are watched; empty: all. */
  watchNamespaces: string[];
  workers: number;
  logLevel: string;
  namePolicyFile?: string;
  /** Run only while holding the coordination.k8s.io Lease (several replicas, one active). */
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** /metrics (and, with metricsAuth none, /healthz and /readyz); 0: any free port. */
  metricsPort: number;
  metricsAddress: string;
  /**
   * kubernetes: /metrics over HTTPS (self-signed serving certificate made at start), each request authenticated by
   * TokenReview and authorized by SubjectAccessReview (get on the non-resource URL /metrics), as controller-runtime
   * does; /healthz and /readyz on their own plain HTTP port. none: one plain HTTP port serves all three, unauthenticated.
   */
  metricsAuth: 'kubernetes' | 'none';
  /** /healthz and /readyz when metricsAuth is kubernetes; 0: any free port. */
  healthPort: number;
  healthAddress: string;
  /** The ServiceAccount named in the SPIFFE ID: flag a missing one in status (condition) or refuse to issue (require). */
  serviceAccountCheck: 'condition' | 'require';
  /** Re-issues a second when the CA changes. */
  reissuePerSecond: number;
  /** Events written at once, then per second; past them Events are folded into one summary per namespace and reason. */
  eventBurst: number;
  eventsPerSecond: number;
  /** Root rotation: Prepared holds this long after every bundle copy is current. */
  propagationDelayMs: number;
  /** Root rotation: added to the last old leaf's expiry before the old root retires. */
  skewMs: number;
  /** Honour spec.restartWorkloads. */
  allowWorkloadRestart: boolean;
  /** The PodCertificateRequest signer mtls.dev/identity: auto (when served and permitted), true (required), false (off). */
  podCertificates: 'auto' | 'true' | 'false';
  /** How long in-flight reconciles may run on after SIGTERM. */
  shutdownGraceMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface FlagSpec {
  env: string;
  default: string;
  help: string;
}

export const FLAGS = {
  'operator-namespace': { env: 'MTLS_OPERATOR_NAMESPACE', default: 'mtls-system', help: 'namespace the operator runs in and keeps its CA Secret in' },
  'ca-secret': { env: 'MTLS_CA_SECRET', default: 'mtls-root-ca', help: 'name of the CA Secret (tls.crt, tls.key, optional ca.crt) in the operator namespace' },
  'bootstrap-ca': { env: 'MTLS_BOOTSTRAP_CA', default: 'true', help: 'generate a self-signed root CA when the CA Secret is absent (true|false)' },
  'trust-domain': { env: 'MTLS_TRUST_DOMAIN', default: 'cluster.local', help: 'SPIFFE trust domain: spiffe://<trust-domain>/ns/<ns>/sa/<sa>' },
  'cluster-domain': { env: 'MTLS_CLUSTER_DOMAIN', default: 'cluster.local', help: 'cluster DNS domain for <svc>.<ns>.svc.<cluster-domain> names' },
  'watch-namespaces': { env: 'MTLS_WATCH_NAMESPACES', default: '', help: 'comma-separated namespaces to watch identities and PodCertificateRequests in (empty: all)' },
  workers: { env: 'MTLS_WORKERS', default: '4', help: 'identities reconciled at once (1-64)' },
  'log-level': { env: 'MTLS_LOG_LEVEL', default: 'info', help: 'error | warn | info | debug' },
  'name-policy-file': { env: 'MTLS_NAME_POLICY_FILE', default: '', help: 'YAML/JSON allow-list of extra DNS suffixes and IP ranges per namespace' },
  'leader-elect': { env: 'MTLS_LEADER_ELECT', default: 'false', help: 'reconcile only while holding the Lease mtls-operator in the operator namespace (true|false)' },
  'leader-election-lease-duration': { env: 'MTLS_LEADER_ELECTION_LEASE_DURATION', default: '60s', help: 'how long a standby waits after the last renewal before taking over (duration: 60s, 1m)' },
  'leader-election-renew-deadline': { env: 'MTLS_LEADER_ELECTION_RENEW_DEADLINE', default: '40s', help: 'a leader that cannot renew for this long stops and exits (< lease duration)' },
  'leader-election-retry-period': { env: 'MTLS_LEADER_ELECTION_RETRY_PERIOD', default: '2s', help: 'how often to try to acquire or renew the Lease; each try is bounded by 2 x this (1 s .. renew deadline / 2) (< renew deadline)' },
  'metrics-port': { env: 'MTLS_METRICS_PORT', default: '9402', help: 'port of /metrics (with --metrics-auth=none also /healthz and /readyz) (0: any free port)' },
  'metrics-address': { env: 'MTLS_METRICS_ADDRESS', default: '0.0.0.0', help: 'IP address the metrics server binds' },
  'metrics-auth': { env: 'MTLS_METRICS_AUTH', default: 'kubernetes', help: 'kubernetes: /metrics over HTTPS, only for a bearer token that TokenReview authenticates and SubjectAccessReview allows get on /metrics; /healthz and /readyz on --health-port | none: plain HTTP /metrics, /healthz, /readyz on --metrics-port, unauthenticated' },
  'health-port': { env: 'MTLS_HEALTH_PORT', default: '8081', help: 'port of /healthz and /readyz (plain HTTP, for kubelet probes) with --metrics-auth=kubernetes (0: any free port)' },
  'health-address': { env: 'MTLS_HEALTH_ADDRESS', default: '0.0.0.0', help: 'IP address the health server binds (--metrics-auth=kubernetes)' },
  'require-service-account': { env: 'MTLS_REQUIRE_SERVICE_ACCOUNT', default: 'false', help: 'refuse to issue for a spec.serviceAccountName that does not exist in the namespace (false: issue, and flag it with ServiceAccountFound=False) (true|false)' },
  'reissue-rate': { env: 'MTLS_REISSUE_RATE', default: '20', help: 're-issues per second when a CA change touches every Secret (1-1000; each identity waits for its own slot)' },
  'event-burst': { env: 'MTLS_EVENT_BURST', default: '100', help: 'Events written at once before a storm is folded: past --event-burst, then --event-rate a second, Events become one summary per namespace, type and reason every 10 s (1-100000)' },
  'event-rate': { env: 'MTLS_EVENT_RATE', default: '5', help: 'Events a second once --event-burst is spent (1-10000)' },
  'rotation-propagation-delay': { env: 'MTLS_ROTATION_PROPAGATION_DELAY', default: '5m', help: 'root rotation: wait this long after every bundle carries the new root before it signs (kubelet refresh, up to ~2m by default, plus the workloads\' reload interval)' },
  'rotation-skew': { env: 'MTLS_ROTATION_SKEW', default: '5m', help: 'root rotation: the old root leaves the bundles this long after the last old leaf expires' },
  'allow-workload-restart': { env: 'MTLS_ALLOW_WORKLOAD_RESTART', default: 'false', help: 'honour spec.restartWorkloads (needs deploy/optional/workload-restart RBAC) (true|false)' },
  'pod-certificates': { env: 'MTLS_POD_CERTIFICATES', default: 'auto', help: 'sign PodCertificateRequests for signer mtls.dev/identity and publish the ClusterTrustBundle: auto (when the cluster serves the API and deploy/optional/pod-certificates RBAC is applied), true (refuse to start otherwise), false (off) (auto|true|false)' },
  'shutdown-grace': { env: 'MTLS_SHUTDOWN_GRACE', default: '20s', help: 'on SIGTERM, how long in-flight reconciles may finish (keep below terminationGracePeriodSeconds)' },
} satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function usage(): string {
  return Object.entries(FLAGS)
    .map(([name, f]) => `  --${name.padEnd(32)} ${f.help} (env ${f.env}, default "${f.default}")`)
    .join('\n');
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!);
  }
  const raw = (name: FlagName): string => {
    const v = values[name];
    return typeof v === 'string' ? v : (env[FLAGS[name].env] ?? FLAGS[name].default);
  };
  const bad = (name: FlagName, why: string): never => {
    throw new ConfigError(`--${name} (${FLAGS[name].env}): ${why}`);
  };
  const dns = (name: FlagName, re: RegExp): string => {
    const v = raw(name);
    if (!re.test(v)) bad(name, `"${v}" is not a valid DNS name`);
    return v;
  };
  const bool = (name: FlagName): boolean => {
    const v = raw(name);
    if (v !== 'true' && v !== 'false') bad(name, `"${v}" must be true or false`);
    return v === 'true';
  };
  const oneOfFlag = <T extends string>(name: FlagName, values: readonly T[]): T => {
    const v = raw(name);
    if (!(values as readonly string[]).includes(v)) bad(name, `"${v}" must be one of ${values.join(', ')}`);
    return v as T;
  };
  const int = (name: FlagName, min: number, max: number): number => {
    const v = raw(name);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) bad(name, `"${v}" must be a whole number from ${min} to ${max}`);
    return n;
  };
  const duration = (name: FlagName, minMs: number, maxMs: number): number => {
    const v = raw(name);
    let ms: number | undefined;
    try {
      ms = parseDuration(v);
    } catch {
      bad(name, `"${v}" is not a duration such as 15s, 1m or 500ms`);
    }
    if (ms! < minMs || ms! > maxMs) bad(name, `"${v}" must be from ${minMs / 1000}s to ${maxMs / 1000}s`);
    return ms!;
  };
  const watchNamespaces = raw('watch-namespaces').split(',').map((s) => s.trim()).filter(Boolean);
  for (const ns of watchNamespaces) if (!DNS_LABEL.test(ns)) bad('watch-namespaces', `"${ns}" is not a valid namespace name`);
  const logLevel = raw('log-level');
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) bad('log-level', `"${logLevel}" must be error, warn, info or debug`);
  const namePolicyFile = raw('name-policy-file');
  const leaseDurationMs = duration('leader-election-lease-duration', 1_000, 3_600_000);
  if (leaseDurationMs % 1000 !== 0) bad('leader-election-lease-duration', `"${raw('leader-election-lease-duration')}" must be whole seconds (a Lease holds seconds)`);
  const renewDeadlineMs = duration('leader-election-renew-deadline', 100, 3_600_000);
  if (renewDeadlineMs >= leaseDurationMs) bad('leader-election-renew-deadline', `"${raw('leader-election-renew-deadline')}" must be shorter than --leader-election-lease-duration (${raw('leader-election-lease-duration')})`);
  const retryPeriodMs = duration('leader-election-retry-period', 100, 3_600_000);
  if (retryPeriodMs >= renewDeadlineMs) bad('leader-election-retry-period', `"${raw('leader-election-retry-period')}" must be shorter than --leader-election-renew-deadline (${raw('leader-election-renew-deadline')})`);
  const metricsAddress = raw('metrics-address');
  if (!isIP(metricsAddress)) bad('metrics-address', `"${metricsAddress}" is not an IP address`);
  const healthAddress = raw('health-address');
  if (!isIP(healthAddress)) bad('health-address', `"${healthAddress}" is not an IP address`);
  const metricsAuth = raw('metrics-auth');
  if (metricsAuth !== 'kubernetes' && metricsAuth !== 'none') bad('metrics-auth', `"${metricsAuth}" must be kubernetes or none`);
  return {
    operatorNamespace: dns('operator-namespace', DNS_LABEL),
    caSecretName: dns('ca-secret', DNS_SUBDOMAIN),
    bootstrapCA: bool('bootstrap-ca'),
    trustDomain: dns('trust-domain', DNS_SUBDOMAIN),
    clusterDomain: dns('cluster-domain', DNS_SUBDOMAIN),
    watchNamespaces,
    workers: int('workers', 1, 64),
    logLevel,
    ...(namePolicyFile ? { namePolicyFile } : {}),
    leaderElect: bool('leader-elect'),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    metricsPort: int('metrics-port', 0, 65535),
    metricsAddress,
    metricsAuth: metricsAuth as 'kubernetes' | 'none',
    healthPort: int('health-port', 0, 65535),
    healthAddress,
    serviceAccountCheck: bool('require-service-account') ? 'require' : 'condition',
    shutdownGraceMs: duration('shutdown-grace', 0, 3_600_000),
    reissuePerSecond: int('reissue-rate', 1, 1000),
    eventBurst: int('event-burst', 1, 100_000),
    eventsPerSecond: int('event-rate', 1, 10_000),
    propagationDelayMs: duration('rotation-propagation-delay', 0, 86_400_000),
    skewMs: duration('rotation-skew', 0, 86_400_000),
    allowWorkloadRestart: bool('allow-workload-restart'),
    podCertificates: oneOfFlag('pod-certificates', ['auto', 'true', 'false'] as const),
  };
}
