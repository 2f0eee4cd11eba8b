/**
 * The name policy: which names an identity in namespace N may hold in its certificate.
 *
 * Why: with a CA-backed issuer, anyone who may create an identity in namespace `dev` could ask
 * for `payments.prod.svc` and impersonate the payment service. So, by default, an identity may
 * hold only names that belong to its own namespace; anything else needs the cluster admin's
 * explicit allow-list (NamePolicyConfig.allow, read by parsePolicyConfig from the operator's
 * --name-policy-file).
 *
 * Pure: no Kubernetes, no I/O. The same rule is enforced at `kubectl apply` time by the
 * ValidatingAdmissionPolicy in deploy/admission/ (keep both in step: test/policy/ checks the
 * same table against both).
 *
 * ## DNS names (D = clusterDomain, default cluster.local; N = the identity's namespace)
 *
 * First, syntax (rule `dns-syntax`, not overridable by the allow-list): lowercase RFC 1123
 * labels of 1-63 letters, digits and '-' (not at either end), at most 253 characters, no
 * trailing dot, no empty label, ASCII only (internationalised names in their `xn--` punycode
 * form), not a dotted quad, and a wildcard only as the whole leftmost label (`*.x`). Uppercase
 * and trailing dots are REFUSED, not normalised: the CRD refuses them too, and a name that is
 * written one way and checked another is how policies get bypassed.
 *
 * Then, structure. A name is read from the right:
 *   1. `<labels>.<ns>.svc.D` — a service name (or a subdomain of one) of namespace `ns`.
 *   2. `D` itself, or any other name ending in `.D` (pod records `<ip>.<ns>.pod.D`,
 *      `svc.D`, `<ns>.svc.D`, ...) — the cluster DNS zone: refused.
 *   3. `<labels>.<ns>.svc` — a service name (or a subdomain) of namespace `ns`.
 *   4. `<labels>.pod` — the short form of a pod record (`<ip>.<ns>.pod`): refused.
 *   5. `<svc>` — a single label: allowed (it is a service of whichever namespace resolves it).
 *   6. `<labels>.<x>` — the `<svc>.<ns>` short form (or a subdomain) of namespace `x`.
 * In forms 1, 3 and 6 the name belongs to N when `ns` (or `x`) is N and at least one label
 * stands before it. Because the `.svc` and cluster-domain forms are matched first, a namespace
 * whose name is `svc`, `pod` or a label of D gains nothing: in namespace `svc`, `payments.prod.svc`
 * still belongs to `prod` (namespace `svc` writes `api.svc.svc`); in namespace `local`,
 * `x.prod.svc.cluster.local` and `*.local` are still refused.
 *
 * Caveats, by design of the forms above: a single-label name (`api`) resolves to a different
 * service in every namespace, so a client that dials `api` accepts any namespace's `api`; and a
 * namespace named like a public top-level domain (`com`, `dev`, `io`) may name anything under
 * that domain through form 6 (`www.example.com` in namespace `com`). Clients should dial
 * qualified names, and clusters should not create namespaces named like public TLDs.
 *
 * Wildcards (rule `wildcard`): `*` is never allowed. `*.B` is allowed exactly when `x.B` would
 * be for every label x: `*.api.dev.svc`, `*.dev.svc` (every service of dev), `*.dev` and
 * `*.dev.svc.cluster.local` are allowed in `dev`; `*.svc` (the wildcard would be the
 * namespace), `*.cluster.local`, `*.local` (they cover the cluster domain) and `*.com` are not.
 *
 * ## Other names
 * - ipAddresses: refused unless an allow rule for N has an ipRange holding the address. An
 *   IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address it maps (TLS stacks treat
 *   it so) and is matched against IPv4 ranges only; IPv6 ranges never match it.
 * - commonName: must be exactly one of the request's dnsNames (which are checked first). Clients
 *   check subjectAltNames, not the CN, but some legacy ones still fall back to it.
 * - uris: the operator's own SPIFFE ID only: at most one URI, of the form
 *   spiffe://<trust domain>/ns/N/sa/<service account> (and the configured trust domain when
 *   NamePolicyConfig.trustDomain is set). Anything else is a violation.
 *
 * ## The allow-list
 * An AllowRule applies to the namespaces it lists, or — when `namespaces` is ABSENT — TO EVERY
 * NAMESPACE IN THE CLUSTER. A DNS name is allowed by a dnsSuffix when it equals the suffix or
 * ends with '.' + suffix (label-aligned: `example.com` allows `example.com`, `a.example.com` and
 * `*.example.com`, never `badexample.com`). An IP address is allowed when an ipRange (CIDR)
 * holds it. The allow-list can allow any syntactically valid name, including another
 * namespace's service names: it is the admin's explicit, reviewable decision.
 */
import { BlockList, isIP } from 'node:net';
import { createRequire } from 'node:module';
import type { parse as yamlParse } from 'yaml';

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
}

export interface PolicyRequest {
  namespace: string;
  dnsNames: string[];
  ipAddresses: string[];
  commonName?: string;
  /** The URI SANs the operator is about to write: its own SPIFFE ID, nothing else. */
  uris?: string[];
}

export interface PolicyViolation {
  field: 'dnsNames' | 'ipAddresses' | 'commonName' | 'uris';
  /** The offending value, as given. */
  value: string;
  /** Which rule refused it: one of POLICY_RULES. */
  rule: string;
  /** A sentence for the user: names the field, its index, the value, the reason and the rule. */
  message: string;
}

/** The rule names a PolicyViolation may carry. */
export const POLICY_RULES = [
  'dns-syntax', // not a lowercase RFC 1123 name (or a misplaced wildcard)
  'wildcard', // a wildcard that reaches beyond the namespace
  'namespace-bound', // a name of another namespace, of the cluster DNS zone, or outside the cluster
  'ip-syntax', // not an IP address (or one with a zone)
  'ip-allow-list', // an IP address that no allow rule of the namespace holds
  'common-name', // a commonName that is not one of the dnsNames
  'spiffe-id', // a URI that is not the identity's own SPIFFE ID
] as const;

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DOTTED_QUAD_RE = /^[0-9]+(\.[0-9]+){3}$/;
const MAX_NAME = 253;
const MAX_LABEL = 63;

// ---------------------------------------------------------------------------------------------
// checkNames

/**
 * The first name in `req` that the policy refuses, or undefined when every name is allowed.
 * Order: dnsNames, ipAddresses, commonName, uris; each list in its own order.
 * Throws an Error when `cfg` is invalid (see parsePolicyConfig) or `req.namespace` is not a
 * namespace name: those are the operator's mistakes, not the user's.
 */
export function checkNames(req: PolicyRequest, cfg: NamePolicyConfig): PolicyViolation | undefined {
  const ns = req.namespace;
  if (typeof ns !== 'string' || !isLabel(ns)) {
    throw new Error(`checkNames: namespace ${JSON.stringify(ns)} is not a valid namespace name`);
  }
  const policy = compile(cfg);
  const rules = policy.rules.filter((r) => r.namespaces === undefined || r.namespaces.has(ns));

  for (const [i, name] of req.dnsNames.entries()) {
    const v = checkDnsName(name, `dnsNames[${i}]`, ns, policy.clusterDomain, rules);
    if (v) return v;
  }

  for (const [i, ip] of req.ipAddresses.entries()) {
    const v = checkIP(ip, `ipAddresses[${i}]`, ns, rules);
    if (v) return v;
  }

  if (req.commonName !== undefined && !req.dnsNames.includes(req.commonName)) {
    return violation(
      'commonName',
      req.commonName,
      'common-name',
      `commonName ${q(req.commonName)} is not one of the identity's dnsNames: the common name may only repeat one of its DNS names (add it to dnsNames, or leave commonName unset)`,
    );
  }

  const uris = req.uris ?? [];
  for (const [i, uri] of uris.entries()) {
    const at = `uris[${i}] ${q(uri)}`;
    if (i > 0) {
      return violation('uris', uri, 'spiffe-id', `${at}: an identity holds exactly one URI, its own SPIFFE ID (${q(uris[0]!)})`);
    }
    const problem = spiffeProblem(uri, ns, cfg.trustDomain);
    if (problem) return violation('uris', uri, 'spiffe-id', `${at} ${problem}: the only URI an identity may hold is its own SPIFFE ID`);
  }
  return undefined;
}

function checkDnsName(name: string, at: string, ns: string, domain: string, rules: CompiledRule[]): PolicyViolation | undefined {
  const syntax = dnsSyntaxProblem(name);
  if (syntax) return violation('dnsNames', name, 'dns-syntax', `${at} ${q(name)} ${syntax}`);

  const verdict = classify(name, ns, domain);
  if (verdict.ok) return undefined;
  if (rules.some((r) => r.dnsSuffixes.some((s) => name === s || name.endsWith('.' + s)))) return undefined;
  return violation('dnsNames', name, verdict.rule, `${at} ${q(name)} ${verdict.why}`);
}

type Verdict = { ok: true } | { ok: false; rule: 'wildcard' | 'namespace-bound'; why: string };

/** Whether a syntactically valid DNS name belongs to namespace `ns` (see the module comment). */
function classify(name: string, ns: string, domain: string): Verdict {
  const ownForms = `<service>, <service>.${ns}, <service>.${ns}.svc, <service>.${ns}.svc.${domain} and their subdomains`;
  const refuse = (rule: 'wildcard' | 'namespace-bound', why: string): Verdict => ({ ok: false, rule, why });
  const otherNamespace = (other: string): Verdict =>
    refuse('namespace-bound', `belongs to namespace ${q(other)}, not ${q(ns)}: an identity may only name services of its own namespace`);

  if (name === '*') return refuse('wildcard', 'is a wildcard for every name: a wildcard may only cover names of the namespace');

  const labels = name.split('.');
  if (labels[0] === '*') {
    const base = name.slice(2);
    if (('.' + domain).endsWith('.' + base)) {
      return refuse('wildcard', `covers the cluster domain ${q(domain)}: a wildcard may only cover names of the namespace (such as *.<service>.${ns}.svc)`);
    }
  }

  /** Service-name forms: `rest` are the labels before `.svc[.domain]`. */
  const serviceForm = (rest: string[], suffix: string): Verdict => {
    const owner = rest.at(-1);
    if (owner === '*') {
      return refuse('wildcard', `puts the wildcard in the namespace's place (*${suffix}): it would cover every namespace's services`);
    }
    if (owner === undefined || rest.length < 2) {
      return refuse('namespace-bound', `is not a service name: a name ending in ${q(suffix)} must be <service>.<namespace>${suffix}; the names of namespace ${q(ns)} are ${ownForms}`);
    }
    return owner === ns ? { ok: true } : otherNamespace(owner);
  };

  if (name.endsWith('.svc.' + domain)) return serviceForm(labels.slice(0, -(1 + labelCount(domain))), '.svc.' + domain);
  if (name === domain || name.endsWith('.' + domain)) {
    return refuse('namespace-bound', `is in the cluster DNS zone ${q(domain)} but is not a service name <service>.<namespace>.svc.${domain}: the names of namespace ${q(ns)} are ${ownForms}`);
  }
  if (labels.length === 1) return { ok: true };
  if (labels.at(-1) === 'svc') return serviceForm(labels.slice(0, -1), '.svc');
  if (labels.at(-1) === 'pod') {
    return refuse('namespace-bound', `has the form of a pod record (<ip>.<namespace>.pod), which resolves to pods of any namespace: the names of namespace ${q(ns)} are ${ownForms}`);
  }
  if (labels.at(-1) === ns) return { ok: true };
  return refuse(
    'namespace-bound',
    `is not a name of namespace ${q(ns)} (${ownForms}), and no allow-list rule of the operator allows it for ${q(ns)}`,
  );
}

/** Why `name` is not a lowercase RFC 1123 DNS name (optionally `*.`-prefixed), or undefined. */
function dnsSyntaxProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name === '') return 'is empty';
  if (/[^\x00-\x7f]/.test(name)) {
    return 'contains non-ASCII characters: write an internationalised name in its punycode (xn--) form';
  }
  if (/[A-Z]/.test(name)) return 'contains uppercase letters: DNS names must be written in lowercase';
  if (name.length > MAX_NAME) return `is ${name.length} characters long: a DNS name has at most ${MAX_NAME}`;
  if (name.endsWith('.')) return 'ends with a dot: write the name without the trailing dot';
  const labels = name.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '') return 'has an empty label (a leading dot or two dots in a row)';
    if (label === '*' && i === 0) continue;
    if (label.includes('*')) return `has a wildcard in label ${q(label)}: a wildcard may only be the whole leftmost label, as in *.api.dev.svc`;
    if (label.length > MAX_LABEL) return `has a label of ${label.length} characters: a label has at most ${MAX_LABEL}`;
    if (!LABEL_RE.test(label)) {
      return `has an invalid label ${q(label)}: labels are lowercase letters, digits and '-', starting and ending with a letter or digit`;
    }
  }
  if (DOTTED_QUAD_RE.test(name)) return 'is an IP address, not a DNS name: put it in ipAddresses';
  return undefined;
}

function checkIP(ip: string, at: string, ns: string, rules: CompiledRule[]): PolicyViolation | undefined {
  const parsed = parseIP(ip);
  if (!parsed) {
    return violation('ipAddresses', ip, 'ip-syntax', `${at} ${q(ip)} is not an IPv4 or IPv6 address (without a zone or prefix length)`);
  }
  const v4 = parsed.mappedV4 ?? (parsed.family === 4 ? ip : undefined);
  const allowed = v4 !== undefined ? rules.some((r) => r.v4.check(v4, 'ipv4')) : rules.some((r) => r.v6.check(ip, 'ipv6'));
  if (allowed) return undefined;
  const shown = parsed.mappedV4 !== undefined ? `${q(ip)} (the IPv4 address ${parsed.mappedV4})` : q(ip);
  return violation(
    'ipAddresses',
    ip,
    'ip-allow-list',
    `${at} ${shown} is not allowed: an identity may hold an IP address only when the operator's allow-list has a range holding it for namespace ${q(ns)}`,
  );
}

function spiffeProblem(uri: string, ns: string, trustDomain: string | undefined): string | undefined {
  const m = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([^/]*)\/sa\/([^/]*)$/.exec(uri);
  if (!m) return 'is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>';
  const [, td, uriNs, sa] = m as unknown as [string, string, string, string];
  if (trustDomain !== undefined && td !== trustDomain) return `has trust domain ${q(td)}, not the operator's ${q(trustDomain)}`;
  if (uriNs !== ns) return `names namespace ${q(uriNs)}, not ${q(ns)}`;
  if (!isSubdomain(sa)) return `names service account ${q(sa)}, which is not a valid service account name`;
  return undefined;
}

function violation(field: PolicyViolation['field'], value: string, rule: string, message: string): PolicyViolation {
  return { field, value, rule, message: `${message} (rule: ${rule})` };
}

// ---------------------------------------------------------------------------------------------
// The config: validation (shared by parsePolicyConfig and checkNames) and compilation

interface CompiledRule {
  namespaces: Set<string> | undefined;
  dnsSuffixes: string[];
  v4: BlockList;
  v6: BlockList;
}

interface CompiledPolicy {
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
function compile(cfg: NamePolicyConfig): CompiledPolicy {
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
const RULE_KEYS = ['namespaces', 'dnsSuffixes', 'ipRanges'];

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
    const v4 = new BlockList();
    const v6 = new BlockList();
    const ranges = rule['ipRanges'] === undefined ? [] : list(rule['ipRanges'], `${at}.ipRanges`);
    for (const [j, c] of ranges.entries()) {
      const path = `${at}.ipRanges[${j}]`;
      const cidr = parseCIDR(str(c, path), path);
      if (cidr.family === 4) v4.addSubnet(cidr.address, cidr.prefix, 'ipv4');
      else v6.addSubnet(cidr.address, cidr.prefix, 'ipv6');
    }
    if (dnsSuffixes.length === 0 && ranges.length === 0) {
      throw new PolicyConfigError(at, 'allows nothing: give dnsSuffixes, ipRanges or both');
    }
    return { namespaces, dnsSuffixes, v4, v6 };
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

function isLabel(s: string): boolean {
  return s.length <= MAX_LABEL && LABEL_RE.test(s);
}

function isSubdomain(s: string): boolean {
  return s.length <= MAX_NAME && s.split('.').every(isLabel);
}

function labelCount(domain: string): number {
  return domain.split('.').length;
}

function q(s: string): string {
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------------------------
// IP addresses

interface ParsedIP {
  family: 4 | 6;
  /** For an IPv4-mapped IPv6 address (::ffff:a.b.c.d), the IPv4 address it maps. */
  mappedV4?: string;
  bytes: Uint8Array;
}

/** An IPv4 or IPv6 address as node:net accepts it, minus zones; undefined otherwise. */
function parseIP(s: string): ParsedIP | undefined {
  if (typeof s !== 'string' || s.includes('%')) return undefined;
  const family = isIP(s); // refuses IPv4 octets with leading zeros
  if (family === 4) return { family, bytes: Uint8Array.from(s.split('.').map(Number)) };
  if (family !== 6) return undefined;
  const bytes = ipv6Bytes(s);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family, bytes, mappedV4: Array.from(bytes.subarray(12)).join('.') } : { family, bytes };
}

/** The 16 bytes of an IPv6 address that node:net already accepted. */
function ipv6Bytes(s: string): Uint8Array {
  let head = s;
  const tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const hex = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = head.indexOf('::');
  let groups: number[];
  if (gap < 0) {
    groups = [...hex(head), ...tail];
  } else {
    const left = hex(head.slice(0, gap));
    const right = hex(head.slice(gap + 2));
    groups = [...left, ...new Array<number>(8 - left.length - right.length - tail.length).fill(0), ...right, ...tail];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function parseCIDR(text: string, path: string): { family: 4 | 6; address: string; prefix: number } {
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
  for (let bit = prefix; bit < max; bit++) {
    if ((parsed.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      bad(`has host bits set after the /${prefix} prefix: write the network address (${networkOf(parsed, prefix)}/${prefix})`);
    }
  }
  return { family: parsed.family, address, prefix };
}

function networkOf(ip: ParsedIP, prefix: number): string {
  const b = Uint8Array.from(ip.bytes);
  for (let bit = prefix; bit < b.length * 8; bit++) b[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  if (ip.family === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
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
