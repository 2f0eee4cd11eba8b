/**
 * Operator configuration from flags and environment (a flag wins over its variable). Every
 * value is checked at start; a bad one is a ConfigError naming the flag, and main exits non-zero.
 */
import { parseArgs } from 'node:util';

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
  'watch-namespaces': { env: 'MTLS_WATCH_NAMESPACES', default: '', help: 'comma-separated namespaces to watch identities in (empty: all)' },
  workers: { env: 'MTLS_WORKERS', default: '4', help: 'identities reconciled at once (1-64)' },
  'log-level': { env: 'MTLS_LOG_LEVEL', default: 'info', help: 'error | warn | info | debug' },
  'name-policy-file': { env: 'MTLS_NAME_POLICY_FILE', default: '', help: 'YAML/JSON allow-list of extra DNS suffixes and IP ranges per namespace' },
} satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function usage(): string {
  return Object.entries(FLAGS)
    .map(([name, f]) => `  --${name.padEnd(20)} ${f.help} (env ${f.env}, default "${f.default}")`)
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
  const int = (name: FlagName, min: number, max: number): number => {
    const v = raw(name);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) bad(name, `"${v}" must be a whole number from ${min} to ${max}`);
    return n;
  };
  const watchNamespaces = raw('watch-namespaces').split(',').map((s) => s.trim()).filter(Boolean);
  for (const ns of watchNamespaces) if (!DNS_LABEL.test(ns)) bad('watch-namespaces', `"${ns}" is not a valid namespace name`);
  const logLevel = raw('log-level');
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) bad('log-level', `"${logLevel}" must be error, warn, info or debug`);
  const namePolicyFile = raw('name-policy-file');
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
  };
}
