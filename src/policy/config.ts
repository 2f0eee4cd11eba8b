/**
 * The name policy's configuration: NamePolicyConfig, read by parsePolicyConfig from the
 * operator's --name-policy-file, validated, and compiled (once per object) for checkNames.
 * What the allow-list means is in the module comment of names.ts.
 *
 * Pure: no Kubernetes, no I/O (the caller reads the file).
 */
import { createRequire } from 'node:module';
import type { parse as yamlParse } from 'yaml';
import { IPRanges, networkOf, parseIP, type ParsedIP } from '../net/ip.ts';
import { dnsSyntaxProblem, isLabel, q } from './syntax.ts';

export interface NamePolicyConfig {
  /** The cluster DNS domain: `<svc>.<ns>.svc.<clusterDomain>`. Default cluster.local. */
  clusterDomain: string;
  /** Explicit, reviewable exceptions to the namespace rule. Empty: none. */
  allow: AllowRule[];
  /**
   * The SPIFFE trust domain the operator issues under. When set, a URI's trust domain must be
   * this one; when absent, any valid trust domain is accepted (the namespace is still checked).
   */
  trustDomain?: string;
}

export interface AllowRule {
  /**
   * Namespaces this rule applies to. ABSENT MEANS EVERY NAMESPACE in the cluster: write the
   * list unless every namespace really may use these names. An empty list is refused.
   */
  namespaces?: string[];
  /** DNS suffixes: a name equal to one, or ending with '.' + one (label-aligned), is allowed. */
  dnsSuffixes?: string[];
  /** CIDRs, IPv4 (`10.0.0.0/8`) or IPv6 (`fd00::/8`), with the host bits zero. */
  ipRanges?: string[];
  /**
   * true: the listed namespaces may also hold the short names `<service>` and `<service>.<ns>`
   * (exactly those two forms). A client resolves them through its DNS search path in its own
   * namespace first, so they are not bound to a namespace: only an explicit list may have them
   * (a rule with shortNames must list its namespaces).
   */
  shortNames?: boolean;
}

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

// ---------------------------------------------------------------------------------------------
// The config: validation (shared by parsePolicyConfig and checkNames) and compilation

/** An allow rule, compiled: what checkNames matches names against. */
export interface CompiledRule {
  namespaces: Set<string> | undefined;
  dnsSuffixes: string[];
  ipRanges: IPRanges;
  shortNames: boolean;
}

export interface CompiledPolicy {
  clusterDomain: string;
  rules: CompiledRule[];
}

class PolicyConfigError extends Error {
  constructor(path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'PolicyConfigError';
  }
}

const compiled = new WeakMap<NamePolicyConfig, { json: string; policy: CompiledPolicy }>();

/** Validates and compiles a config; cached per object (and recompiled if it was changed since). */
export function compile(cfg: NamePolicyConfig): CompiledPolicy {
  const json = JSON.stringify(cfg);
  const hit = compiled.get(cfg);
  if (hit && hit.json === json) return hit.policy;
  let policy: CompiledPolicy;
  try {
    policy = validateConfig(cfg, [...FILE_KEYS, 'trustDomain']);
  } catch (err) {
    throw new Error(`invalid name policy: ${(err as Error).message}`);
  }
  compiled.set(cfg, { json, policy });
  return policy;
}

/** The fields of a policy file; a NamePolicyConfig also has trustDomain (the operator's flag). */
const FILE_KEYS = ['clusterDomain', 'allow'];
const RULE_KEYS = ['namespaces', 'dnsSuffixes', 'ipRanges', 'shortNames'];

function validateConfig(raw: unknown, keys: string[]): CompiledPolicy {
  const top = mapping(raw, '(top level)', keys);
  let clusterDomain = DEFAULT_CLUSTER_DOMAIN;
  if (top['clusterDomain'] !== undefined) {
    clusterDomain = str(top['clusterDomain'], 'clusterDomain');
    const problem = suffixProblem(clusterDomain);
    if (problem) throw new PolicyConfigError('clusterDomain', `${q(clusterDomain)} ${problem}`);
  }
  if (top['trustDomain'] !== undefined) {
    const td = str(top['trustDomain'], 'trustDomain');
    if (!/^[a-z0-9._-]+$/.test(td) || td.length > 255) {
      throw new PolicyConfigError('trustDomain', `${q(td)} is not a SPIFFE trust domain (lowercase letters, digits, '.', '-' and '_')`);
    }
  }
  const allow = top['allow'] === undefined ? [] : list(top['allow'], 'allow');
  const rules = allow.map((r, i): CompiledRule => {
    const at = `allow[${i}]`;
    const rule = mapping(r, at, RULE_KEYS);
    let namespaces: Set<string> | undefined;
    if (rule['namespaces'] !== undefined) {
      const names = list(rule['namespaces'], `${at}.namespaces`);
      if (names.length === 0) {
        throw new PolicyConfigError(
          `${at}.namespaces`,
          'is empty, so the rule would apply to no namespace: list the namespaces, or leave the field out to apply the rule to EVERY namespace',
        );
      }
      namespaces = new Set(
        names.map((n, j) => {
          const ns = str(n, `${at}.namespaces[${j}]`);
          if (!isLabel(ns)) {
            throw new PolicyConfigError(
              `${at}.namespaces[${j}]`,
              `${q(ns)} is not a namespace name (a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)`,
            );
          }
          return ns;
        }),
      );
    }
    const dnsSuffixes = (rule['dnsSuffixes'] === undefined ? [] : list(rule['dnsSuffixes'], `${at}.dnsSuffixes`)).map((s, j) => {
      const suffix = str(s, `${at}.dnsSuffixes[${j}]`);
      const problem = suffixProblem(suffix);
      if (problem) throw new PolicyConfigError(`${at}.dnsSuffixes[${j}]`, `${q(suffix)} ${problem}`);
      return suffix;
    });
    const ipRanges = new IPRanges();
    const ranges = rule['ipRanges'] === undefined ? [] : list(rule['ipRanges'], `${at}.ipRanges`);
    for (const [j, c] of ranges.entries()) {
      const path = `${at}.ipRanges[${j}]`;
      const cidr = parseCIDR(str(c, path), path);
      ipRanges.add(cidr.network, cidr.prefix);
    }
    let shortNames = false;
    if (rule['shortNames'] !== undefined) {
      if (typeof rule['shortNames'] !== 'boolean') throw new PolicyConfigError(`${at}.shortNames`, `must be true or false, not ${describe(rule['shortNames'])}`);
      shortNames = rule['shortNames'];
      if (shortNames && namespaces === undefined) {
        throw new PolicyConfigError(
          `${at}.shortNames`,
          'needs the namespaces listed: short names (<service>, <service>.<namespace>) resolve in the client\'s own namespace, so they are granted namespace by namespace, never to every namespace',
        );
      }
    }
    if (dnsSuffixes.length === 0 && ranges.length === 0 && !shortNames) {
      throw new PolicyConfigError(at, 'allows nothing: give dnsSuffixes, ipRanges, shortNames: true, or several');
    }
    return { namespaces, dnsSuffixes, ipRanges, shortNames };
  });
  return { clusterDomain, rules };
}

function mapping(v: unknown, path: string, keys: string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new PolicyConfigError(path, `must be a mapping (an object), not ${describe(v)}`);
  }
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      const where = path === '(top level)' ? k : `${path}.${k}`;
      throw new PolicyConfigError(where, `unknown field: the fields here are ${keys.join(', ')}`);
    }
  }
  return v as Record<string, unknown>;
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new PolicyConfigError(path, `must be a list, not ${describe(v)}`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new PolicyConfigError(path, `must be a string, not ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Why `s` is not usable as a DNS suffix (or cluster domain), or undefined. */
function suffixProblem(s: string): string | undefined {
  if (s === '') return 'is empty';
  if (s.startsWith('.')) return `starts with a dot: write ${q(s.replace(/^\.+/, ''))}, which already covers every name under it`;
  if (s.includes('*')) return `has a wildcard: write ${q(s.replace(/^(\*\.)+/, ''))}, which already covers every name under it`;
  return dnsSyntaxProblem(s);
}

/** A CIDR of an allow rule: a network address (host bits zero, not IPv4-mapped) and a prefix length. */
function parseCIDR(text: string, path: string): { network: ParsedIP; prefix: number } {
  const bad = (why: string): never => {
    throw new PolicyConfigError(path, `${q(text)} ${why}`);
  };
  const slash = text.indexOf('/');
  if (slash < 0) bad('is not a CIDR: write the prefix length too, as in 10.1.0.0/16, 10.1.2.3/32 or fd00::/8');
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const ip = parseIP(address);
  if (!ip) bad(`is not a CIDR: ${q(address)} is not an IPv4 or IPv6 address`);
  const parsed = ip!;
  if (parsed.mappedV4 !== undefined) bad('is an IPv4-mapped IPv6 range: write the IPv4 range (mapped addresses are matched as IPv4)');
  const max = parsed.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
    bad(`has an invalid prefix length ${q(prefixText)}: an IPv${parsed.family} prefix is 0 to ${max}`);
  }
  const prefix = Number(prefixText);
  const network = networkOf(parsed, prefix);
  if (network !== parsed.text) {
    bad(`has host bits set after the /${prefix} prefix: write the network address (${network}/${prefix})`);
  }
  return { network: parsed, prefix };
}

// ---------------------------------------------------------------------------------------------
// parsePolicyConfig

/**
 * Reads the operator's name-policy file (YAML or JSON):
 *
 *     clusterDomain: cluster.local          # optional; default cluster.local
 *     allow:                                # optional; default: no exceptions
 *       - namespaces: [payments]            # ABSENT = EVERY NAMESPACE
 *         dnsSuffixes: [payments.example.com]
 *         ipRanges: [10.20.0.0/16, fd00:20::/32]
 *         shortNames: true                # <service> and <service>.payments (namespaces required)
 *
 * Throws an Error whose message names the bad field (`allow[0].ipRanges[1]: ...`). Unknown
 * fields are errors (a misspelt `namespace:` must not silently widen a rule to every namespace).
 */
export function parsePolicyConfig(text: string): NamePolicyConfig {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new Error('name policy: the file is empty: write "allow: []" for a policy without exceptions');
  }
  let raw: unknown;
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`name policy: not valid JSON: ${(err as Error).message}`);
    }
  } else {
    try {
      raw = loadYaml()(text, { uniqueKeys: true });
    } catch (err) {
      throw new Error(`name policy: not valid YAML: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}`);
    }
  }
  if (raw === null || raw === undefined) throw new Error('name policy: the file holds no mapping: write "allow: []" for a policy without exceptions');
  try {
    validateConfig(raw, FILE_KEYS);
  } catch (err) {
    throw new Error(`name policy: ${(err as Error).message}`);
  }
  const top = raw as { clusterDomain?: string; allow?: AllowRule[] };
  const cfg: NamePolicyConfig = {
    clusterDomain: top.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    allow: (top.allow ?? []).map((r) => ({
      ...(r.namespaces !== undefined ? { namespaces: [...r.namespaces] } : {}),
      ...(r.dnsSuffixes !== undefined ? { dnsSuffixes: [...r.dnsSuffixes] } : {}),
      ...(r.ipRanges !== undefined ? { ipRanges: [...r.ipRanges] } : {}),
      ...(r.shortNames !== undefined ? { shortNames: r.shortNames } : {}),
    })),
  };
  return cfg;
}

/**
 * The `yaml` package, loaded on first use: a JSON policy file (and an operator without a policy
 * file) needs no YAML parser at all.
 */
function loadYaml(): typeof yamlParse {
  try {
    return (createRequire(import.meta.url)('yaml') as { parse: typeof yamlParse }).parse;
  } catch {
    throw new Error('the "yaml" package is not installed: write the policy file as JSON, or install yaml');
  }
}
