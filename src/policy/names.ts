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
 *   3. `<svc>` — a single label: a SHORT NAME (rule `short-name`).
 *   4. `<labels>.<ns>.svc` — a service name (or a subdomain) of namespace `ns`.
 *   5. `<labels>.pod` — the short form of a pod record (`<ip>.<ns>.pod`): refused.
 *   6. `<labels>.N` — the `<svc>.<ns>` short form with the identity's own namespace: a SHORT
 *      NAME (rule `short-name`).
 *   7. anything else — another namespace's short form, or a name outside the cluster: refused
 *      unless a dnsSuffix of the allow-list allows it.
 * In forms 1 and 4 the name belongs to N when `ns` is N and at least one label stands before it.
 * Because the `.svc` and cluster-domain forms are matched first, a namespace whose name is `svc`,
 * `pod` or a label of D gains nothing: in namespace `svc`, `payments.prod.svc` still belongs to
 * `prod` (namespace `svc` writes `api.svc.svc`); in namespace `local`,
 * `x.prod.svc.cluster.local` and `*.local` are still refused.
 *
 * Short names are not bound to any namespace. A client's resolv.conf searches
 * `<its ns>.svc.D svc.D D` first (ndots 5), so `payments` dialled from namespace `app` is app's
 * service `payments`, and `redis-0.redis` dialled from `app` is pod `redis-0` of app's own
 * headless service `redis` before it is ever service `redis-0` of namespace `redis`. A
 * certificate for a short name is therefore accepted by clients of every namespace for their own
 * service. They are refused unless an allow rule with `shortNames: true` lists N, and even then
 * only exactly `<svc>` and `<svc>.N`: no wildcard (`*.N`) and nothing under `<svc>.N`. Nor does
 * N claim anything else under `.N`: a namespace named like a top-level domain or public suffix
 * (`dev`, `app`, `com`) gets no public names (`www.example.com` in namespace `com` is refused);
 * with shortNames it gets exactly `<svc>.N`, which for such a namespace is also a public DNS
 * name: do not grant shortNames to namespaces named like public suffixes.
 *
 * Wildcards (rule `wildcard`): `*` is never allowed. `*.B` is allowed exactly when `x.B` would
 * be for every label x: `*.api.dev.svc`, `*.dev.svc` (every service of dev) and
 * `*.dev.svc.cluster.local` are allowed in `dev`; `*.dev` (short names), `*.svc` (the wildcard
 * would be the namespace), `*.cluster.local`, `*.local` (they cover the cluster domain) and
 * `*.com` are not.
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
import { parseIP } from '../net/ip.ts';
import { compile, type CompiledRule, type NamePolicyConfig } from './config.ts';
import { dnsSyntaxProblem, isLabel, isSubdomain, q } from './syntax.ts';

export { DEFAULT_CLUSTER_DOMAIN, parsePolicyConfig, type AllowRule, type NamePolicyConfig } from './config.ts';

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
  'short-name', // <svc> or <svc>.N without the allow-list's shortNames for N (or a wildcard/subdomain of one)
  'namespace-bound', // a name of another namespace, of the cluster DNS zone, or outside the cluster
  'ip-syntax', // not an IP address (or one with a zone)
  'ip-allow-list', // an IP address that no allow rule of the namespace holds
  'common-name', // a commonName that is not one of the dnsNames
  'spiffe-id', // a URI that is not the identity's own SPIFFE ID
] as const;

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

  const verdict = classify(name, ns, domain, rules.some((r) => r.shortNames));
  if (verdict.ok) return undefined;
  if (rules.some((r) => r.dnsSuffixes.some((s) => name === s || name.endsWith('.' + s)))) return undefined;
  return violation('dnsNames', name, verdict.rule, `${at} ${q(name)} ${verdict.why}`);
}

type Rule = 'wildcard' | 'namespace-bound' | 'short-name';
type Verdict = { ok: true } | { ok: false; rule: Rule; why: string };

/**
 * Whether a syntactically valid DNS name belongs to namespace `ns` (see the module comment);
 * `shortNames`: an allow rule grants `ns` the short names `<svc>` and `<svc>.<ns>`.
 */
function classify(name: string, ns: string, domain: string, shortNames: boolean): Verdict {
  const ownForms = `<service>.${ns}.svc, <service>.${ns}.svc.${domain} and their subdomains`;
  const refuse = (rule: Rule, why: string): Verdict => ({ ok: false, rule, why });
  const short = (): Verdict => refuse('short-name',
    `is a short name: a client resolves it through its DNS search path in its own namespace first, so it is not bound to namespace ${q(ns)}: write <service>.${ns}.svc; the short names <service> and <service>.${ns} (exactly, without wildcards or subdomains) need an allow-list rule with shortNames for ${q(ns)}`);
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
  if (labels.length === 1) return shortNames ? { ok: true } : short();
  if (labels.at(-1) === 'svc') return serviceForm(labels.slice(0, -1), '.svc');
  if (labels.at(-1) === 'pod') {
    return refuse('namespace-bound', `has the form of a pod record (<ip>.<namespace>.pod), which resolves to pods of any namespace: the names of namespace ${q(ns)} are ${ownForms}`);
  }
  if (labels.at(-1) === ns) return shortNames && labels.length === 2 && labels[0] !== '*' ? { ok: true } : short();
  return refuse(
    'namespace-bound',
    `is not a name of namespace ${q(ns)} (${ownForms}), and no allow-list rule of the operator allows it for ${q(ns)}`,
  );
}

function checkIP(ip: string, at: string, ns: string, rules: CompiledRule[]): PolicyViolation | undefined {
  const parsed = parseIP(ip);
  if (!parsed) {
    return violation('ipAddresses', ip, 'ip-syntax', `${at} ${q(ip)} is not an IPv4 or IPv6 address (without a zone or prefix length)`);
  }
  if (rules.some((r) => r.ipRanges.has(parsed))) return undefined; // an IPv4-mapped address as its IPv4 address
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

function labelCount(domain: string): number {
  return domain.split('.').length;
}

