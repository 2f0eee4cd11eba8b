/**
 * The MutualTLSIdentity spec, resolved: every default filled in and every rule checked.
 *
 * The CRD (crds/mtls.dev_mutualtlsidentities.yaml) is the first line of defence: its OpenAPI
 * schema and CEL rules reject bad specs at admission. This module is the backstop for specs that
 * slip past it (an older CRD still installed, CEL disabled, an object written before a rule
 * existed) and checks what the CRD cannot (IP canonical form, label and annotation keys, sizes).
 *
 * One source of truth: the limits, enums, defaults, patterns and CEL rules below are the ones the
 * CRD carries (test/api/crd.test.ts fails if the two drift), and a rule broken here reports the
 * same message the API server would have.
 *
 * Pure: no Kubernetes client, no clock, no I/O.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import {
  GROUP,
  LABEL_MANAGED_BY,
  type KeyAlgorithm,
  type KeyEncoding,
  type KeyUsage,
  type MutualTLSIdentity,
  type WorkloadKind,
  type WorkloadRef,
  type RotationPolicy,
} from './types.ts';

// ---------------------------------------------------------------------------------------------
// Enums and defaults (the CRD's `enum` and `default` values)

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA', 'Ed25519', 'RSA'];
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'ECDSA';
/** Allowed sizes per algorithm. Ed25519 has a fixed size: `size` is ignored for it. */
export const KEY_SIZES: Readonly<Record<KeyAlgorithm, readonly number[]>> = {
  ECDSA: [256, 384],
  Ed25519: [],
  RSA: [2048, 3072, 4096],
};
/** Size used when `privateKey.size` is absent. Ed25519: 0 (no size). */
export const DEFAULT_KEY_SIZES: Readonly<Record<KeyAlgorithm, number>> = {
  ECDSA: 256,
  Ed25519: 0,
  RSA: 2048,
};
export const KEY_ENCODINGS: readonly KeyEncoding[] = ['PKCS8', 'PKCS1'];
export const DEFAULT_KEY_ENCODING: KeyEncoding = 'PKCS8';
export const ROTATION_POLICIES: readonly RotationPolicy[] = ['Always', 'Never'];
export const DEFAULT_ROTATION_POLICY: RotationPolicy = 'Always';
/** Every usage, in the canonical order ResolvedSpec.usages keeps. */
export const KEY_USAGES: readonly KeyUsage[] = [
  'digital signature',
  'key encipherment',
  'server auth',
  'client auth',
];
export const DEFAULT_USAGES: readonly KeyUsage[] = ['digital signature', 'server auth', 'client auth'];
/** Added by the operator for RSA keys (TLS 1.2 RSA key exchange). */
export const RSA_EXTRA_USAGE: KeyUsage = 'key encipherment';

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const DEFAULT_DURATION = '24h';
export const MIN_DURATION = '1h';
export const MAX_DURATION = '2160h';
/** The default secretName is `<metadata.name>` + this suffix. */
export const SECRET_NAME_SUFFIX = '-mtls';

/** Keys in secretTemplate that belong to the operator. */
export const RESERVED_KEY_PREFIX = `${GROUP}/`;
export const RESERVED_KEYS: readonly string[] = [LABEL_MANAGED_BY];

// ---------------------------------------------------------------------------------------------
// Limits (the CRD's maxLength / maxItems / maxProperties)

export const LIMITS = {
  /** secretName, serviceAccountName: DNS-1123 subdomain. */
  nameMaxLength: 253,
  dnsNamesMaxItems: 100,
  dnsNameMaxLength: 253,
  dnsLabelMaxLength: 63,
  ipAddressesMaxItems: 32,
  /** 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255' */
  ipAddressMaxLength: 45,
  commonNameMaxLength: 64,
  durationMaxLength: 32,
  usagesMaxItems: 4,
  restartWorkloadsMaxItems: 16,
  /** secretTemplate.labels and secretTemplate.annotations, each. */
  templateMaxEntries: 64,
  labelValueMaxLength: 63,
  /** Kubernetes' limit on all annotations of an object, keys and values, in bytes. */
  annotationsMaxBytes: 256 * 1024,
} as const;

/** Longest metadata.name whose default Secret name still fits in 253 characters. */
export const MAX_NAME_FOR_DEFAULT_SECRET = LIMITS.nameMaxLength - SECRET_NAME_SUFFIX.length;

// ---------------------------------------------------------------------------------------------
// Patterns: RE2 and JavaScript alike (no escapes: `[.]` for a dot), anchored.

/** Kubernetes' DNS-1123 subdomain (label length is not limited, as in Kubernetes). */
export const DNS1123_SUBDOMAIN_PATTERN =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A lowercase RFC 1123 DNS name, labels of 1–63; optional `*.` as the whole leftmost label. */
export const DNS_NAME_PATTERN =
  '^([*][.])?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$';
/** A dotted quad: an IPv4 address written where a DNS name belongs. */
export const DOTTED_QUAD_PATTERN = '^[0-9]+([.][0-9]+){3}$';
/** Go's time.ParseDuration syntax without a sign, units h, m, s, ms, us, ns. */
export const GO_DURATION_PATTERN = '^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$';
/** Kubernetes label value (length checked separately). */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** The name part of a Kubernetes qualified name (label / annotation key). */
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const DNS1123_SUBDOMAIN_RE = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
const DNS_NAME_RE = new RegExp(DNS_NAME_PATTERN);
const DOTTED_QUAD_RE = new RegExp(DOTTED_QUAD_PATTERN);
const GO_DURATION_RE = new RegExp(GO_DURATION_PATTERN);
const LABEL_VALUE_RE = new RegExp(LABEL_VALUE_PATTERN);
const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// ---------------------------------------------------------------------------------------------
// Messages. Those of CEL rules are word for word the CRD's `message`.

export const MESSAGES = {
  defaultSecretNameTooLong:
    `metadata.name is too long for the default Secret name <metadata.name>${SECRET_NAME_SUFFIX} ` +
    `(at most ${LIMITS.nameMaxLength} characters): set spec.secretName`,
  secretName:
    "secretName must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', " +
    'starting and ending with a letter or digit',
  serviceAccountName:
    "serviceAccountName must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', " +
    'starting and ending with a letter or digit',
  dnsName:
    "each DNS name must be lowercase RFC 1123: labels of 1 to 63 letters, digits and '-' " +
    "(not starting or ending with '-') separated by dots, without a trailing dot; " +
    "a wildcard is allowed only as the whole leftmost label, as in '*.example.com'",
  dnsNameIsIP: 'an IP address is not a DNS name: put it in ipAddresses',
  ipAddress:
    'each IP address must be a valid IPv4 or IPv6 address, without a zone, ' +
    'leading zeros or the IPv4-mapped IPv6 form',
  durationFormat:
    "duration must be a Go duration such as '24h', '90m' or '1h30m' " +
    "(units h, m, s, ms, us, ns; there is no 'd' unit: write '2160h' for 90 days)",
  durationRange: `duration must be at least ${MIN_DURATION} and at most ${MAX_DURATION} (90 days)`,
  renewBeforeFormat:
    "renewBefore must be a Go duration such as '8h', '90m' or '1h30m' " +
    "(units h, m, s, ms, us, ns; there is no 'd' unit: write '720h' for 30 days)",
  renewBeforePositive: 'renewBefore must be longer than 0s',
  renewBeforeShorter: 'renewBefore must be shorter than duration',
  ecdsaSize: 'size must be 256 or 384 for ECDSA keys',
  rsaSize: 'size must be 2048, 3072 or 4096 for RSA keys',
  pkcs1RsaOnly: 'encoding PKCS1 is only valid for RSA keys: use PKCS8 for ECDSA and Ed25519 keys',
  usagesDigitalSignature: "usages must include 'digital signature': TLS needs it with every key algorithm",
  keyEnciphermentRsaOnly:
    "usage 'key encipherment' is only valid for RSA keys: remove it for ECDSA and Ed25519 " +
    '(the operator adds it to RSA certificates by itself)',
  reservedLabels:
    `labels may not use the prefix ${RESERVED_KEY_PREFIX} or the key ${LABEL_MANAGED_BY}: ` +
    'the operator sets those itself',
  reservedAnnotations:
    `annotations may not use the prefix ${RESERVED_KEY_PREFIX} or the key ${LABEL_MANAGED_BY}: ` +
    'the operator sets those itself',
  labelValue:
    `label values must be at most ${LIMITS.labelValueMaxLength} letters, digits, '-', '_' and '.', ` +
    'starting and ending with a letter or digit (or be empty)',
  // Backstop only: the CRD cannot check map keys or total sizes.
  qualifiedKey:
    "keys must be Kubernetes qualified names: an optional DNS subdomain prefix and '/', then at most " +
    "63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
  annotationsTooLarge: `annotations may not be larger than ${LIMITS.annotationsMaxBytes} bytes in total`,
  namespaceRequired: 'a MutualTLSIdentity must have a namespace',
  namespaceInvalid: 'namespace must be a DNS-1123 label',
  nameRequired: 'a MutualTLSIdentity must have a name',
} as const;

// ---------------------------------------------------------------------------------------------
// The CRD's CEL rules (x-kubernetes-validations), by schema location.
//
// `path` names the schema node: '' is the root, '.' between properties, '[]' a list's items,
// '{}' a map's values. The CRD carries exactly these rules (test/api/crd.test.ts).
// Kubernetes >= 1.31 is needed for isIP() (CEL IP library, introduced in 1.30).

export interface CelRule {
  path: string;
  rule: string;
  message: string;
  fieldPath?: string;
}

const goDuration = (expr: string): string => `${expr}.matches('${GO_DURATION_PATTERN}')`;
const noReservedKeys = `self.all(k, !k.startsWith('${RESERVED_KEY_PREFIX}') && k != '${LABEL_MANAGED_BY}')`;

export const CEL_RULES: readonly CelRule[] = [
  {
    path: '',
    rule:
      '(has(self.spec) && has(self.spec.secretName)) || ' +
      `size(self.metadata.name) <= ${MAX_NAME_FOR_DEFAULT_SECRET}`,
    message: MESSAGES.defaultSecretNameTooLong,
    fieldPath: '.spec.secretName',
  },
  {
    path: 'spec',
    rule:
      `!has(self.renewBefore) || !${goDuration('self.renewBefore')} || ` +
      `(has(self.duration) && !${goDuration('self.duration')}) || ` +
      `duration(self.renewBefore) < duration(has(self.duration) ? self.duration : '${DEFAULT_DURATION}')`,
    message: MESSAGES.renewBeforeShorter,
    fieldPath: '.renewBefore',
  },
  {
    path: 'spec',
    rule:
      "!has(self.usages) || !('key encipherment' in self.usages) || " +
      "(has(self.privateKey) && has(self.privateKey.algorithm) && self.privateKey.algorithm == 'RSA')",
    message: MESSAGES.keyEnciphermentRsaOnly,
    fieldPath: '.usages',
  },
  { path: 'spec.secretName', rule: `self.matches('${DNS1123_SUBDOMAIN_PATTERN}')`, message: MESSAGES.secretName },
  {
    path: 'spec.serviceAccountName',
    rule: `self.matches('${DNS1123_SUBDOMAIN_PATTERN}')`,
    message: MESSAGES.serviceAccountName,
  },
  { path: 'spec.dnsNames[]', rule: `self.matches('${DNS_NAME_PATTERN}')`, message: MESSAGES.dnsName },
  { path: 'spec.dnsNames[]', rule: `!self.matches('${DOTTED_QUAD_PATTERN}')`, message: MESSAGES.dnsNameIsIP },
  { path: 'spec.ipAddresses[]', rule: 'isIP(self)', message: MESSAGES.ipAddress },
  { path: 'spec.duration', rule: goDuration('self'), message: MESSAGES.durationFormat },
  {
    path: 'spec.duration',
    rule:
      `!${goDuration('self')} || ` +
      `(duration(self) >= duration('${MIN_DURATION}') && duration(self) <= duration('${MAX_DURATION}'))`,
    message: MESSAGES.durationRange,
  },
  { path: 'spec.renewBefore', rule: goDuration('self'), message: MESSAGES.renewBeforeFormat },
  {
    path: 'spec.renewBefore',
    rule: `!${goDuration('self')} || duration(self) > duration('0s')`,
    message: MESSAGES.renewBeforePositive,
  },
  {
    path: 'spec.privateKey',
    rule:
      "!has(self.size) || (has(self.algorithm) && self.algorithm != 'ECDSA') || " +
      `self.size in [${KEY_SIZES.ECDSA.join(', ')}]`,
    message: MESSAGES.ecdsaSize,
    fieldPath: '.size',
  },
  {
    path: 'spec.privateKey',
    rule:
      "!has(self.size) || !has(self.algorithm) || self.algorithm != 'RSA' || " +
      `self.size in [${KEY_SIZES.RSA.join(', ')}]`,
    message: MESSAGES.rsaSize,
    fieldPath: '.size',
  },
  {
    path: 'spec.privateKey',
    rule: "!has(self.encoding) || self.encoding != 'PKCS1' || (has(self.algorithm) && self.algorithm == 'RSA')",
    message: MESSAGES.pkcs1RsaOnly,
    fieldPath: '.encoding',
  },
  { path: 'spec.usages', rule: "'digital signature' in self", message: MESSAGES.usagesDigitalSignature },
  { path: 'spec.secretTemplate.labels', rule: noReservedKeys, message: MESSAGES.reservedLabels },
  { path: 'spec.secretTemplate.labels{}', rule: `self.matches('${LABEL_VALUE_PATTERN}')`, message: MESSAGES.labelValue },
  { path: 'spec.secretTemplate.annotations', rule: noReservedKeys, message: MESSAGES.reservedAnnotations },
];

// ---------------------------------------------------------------------------------------------
// Types

export interface OperatorNaming {
  /** SPIFFE trust domain, e.g. 'cluster.local'. */
  trustDomain: string;
}

export interface ResolvedSpec {
  secretName: string;
  serviceAccountName: string;
  /** spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccountName>, always a URI SAN. */
  spiffeId: string;
  commonName?: string;
  /** Lowercase RFC 1123 names, first occurrence order, without duplicates. */
  dnsNames: string[];
  /** Canonical form (IPv6 compressed lowercase, RFC 5952), first occurrence order, no duplicates. */
  ipAddresses: string[];
  durationMs: number;
  /** undefined: renew when one third of the issued lifetime is left (see decide/renewal.ts). */
  renewBeforeMs?: number;
  /** Ed25519: size 0. */
  key: { algorithm: KeyAlgorithm; size: number };
  encoding: KeyEncoding;
  rotationPolicy: RotationPolicy;
  /** In KEY_USAGES order, without duplicates; includes 'key encipherment' for RSA. */
  usages: KeyUsage[];
  secretTemplate: { labels: Record<string, string>; annotations: Record<string, string> };
  /** Workloads to restart on a new certificate (opt-in), without duplicates. */
  restartWorkloads: WorkloadRef[];
}

export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

/** A spec the operator cannot act on. `message` is `<field>: <detail>`. */
export class InvalidSpecError extends Error {
  /** Path of the offending field, as Kubernetes writes it: 'spec.dnsNames[2]', 'spec.privateKey.size'. */
  readonly field: string;
  /** What is wrong, without the field (for CEL rules: the CRD's message, word for word). */
  readonly detail: string;
  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = 'InvalidSpecError';
    this.field = field;
    this.detail = detail;
  }
}

// ---------------------------------------------------------------------------------------------
// Durations

const NS_PER: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n, // only to suggest the right spelling
};
/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_DURATION_NS = (1n << 63n) - 1n;
const COMPONENT_RE = /([0-9]*)(?:[.]([0-9]*))?(ns|us|ms|s|m|h|d)/g;
const WITH_DAYS_RE = /^(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h|d))+$/;

function sumNanos(s: string): bigint {
  let total = 0n;
  for (const [, int = '', frac = '', unit = ''] of s.matchAll(COMPONENT_RE)) {
    const per = NS_PER[unit] ?? 0n;
    total += BigInt(int || '0') * per;
    if (frac) total += (BigInt(frac) * per) / 10n ** BigInt(frac.length); // truncates, as Go does
  }
  return total;
}

function nanosToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/**
 * Parses a Go duration ("1h30m", "90m", "2160h", "1.5h", "300ms", "45s", "0") into milliseconds
 * (fractional below 1 ms). Rejects negatives, spaces and unknown units; "d" is rejected with the
 * equivalent in hours ("90d" → use "2160h"), as Go has no day unit.
 */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new TypeError(`a duration must be a string, not ${typeof s}`);
  if (s === '') throw new Error('invalid duration "": empty');
  if (/^[-+]/.test(s)) {
    if (s.startsWith('-')) throw new Error(`invalid duration "${s}": negative durations are not allowed`);
    throw new Error(`invalid duration "${s}": write it without a sign`);
  }
  if (!GO_DURATION_RE.test(s)) {
    if (WITH_DAYS_RE.test(s)) {
      throw new Error(
        `invalid duration "${s}": Go durations have no "d" unit; write "${formatDuration(nanosToMs(sumNanos(s)))}"`,
      );
    }
    throw new Error(
      `invalid duration "${s}": expected a Go duration such as "24h", "90m" or "1h30m" (units h, m, s, ms, us, ns)`,
    );
  }
  const ns = sumNanos(s);
  if (ns > MAX_DURATION_NS) throw new Error(`invalid duration "${s}": too long (at most about 2562047h)`);
  return nanosToMs(ns);
}

/**
 * Formats milliseconds as a compact Go duration that parseDuration reads back: "24h", "1h30m",
 * "1s500ms", "0s". Sub-millisecond parts become "us"/"ns" (rounded to the nanosecond).
 * Negative values get a leading "-" (for messages; parseDuration refuses them).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  const whole = Math.trunc(ms);
  let ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
  if (ns === 0n) return '0s';
  let out = '';
  for (const unit of ['h', 'm', 's', 'ms', 'us', 'ns'] as const) {
    const per = NS_PER[unit] as bigint;
    const n = ns / per;
    if (n > 0n) out += `${n}${unit}`;
    ns -= n * per;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SPIFFE

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SPIFFE_SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/**
 * spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. Throws an Error (not an
 * InvalidSpecError: a bad trust domain is the operator's configuration, not the user's spec)
 * when a part would make an invalid SPIFFE ID.
 */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!TRUST_DOMAIN_RE.test(trustDomain) || trustDomain.length > 255) {
    throw new Error(
      `invalid SPIFFE trust domain "${trustDomain}": use lowercase letters, digits, '.', '-' and '_' (at most 255)`,
    );
  }
  for (const [what, seg] of [['namespace', namespace], ['service account', serviceAccount]] as const) {
    if (!SPIFFE_SEGMENT_RE.test(seg) || seg === '.' || seg === '..') {
      throw new Error(`invalid ${what} "${seg}" for a SPIFFE ID path segment`);
    }
  }
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

// ---------------------------------------------------------------------------------------------
// IP addresses

/** Canonical text of a valid IP, or undefined when Kubernetes' isIP() would refuse it. */
export function canonicalIP(s: string): string | undefined {
  if (s.includes('%')) return undefined; // zones: node accepts them, Kubernetes does not
  const family = isIP(s); // refuses IPv4 octets with leading zeros, like Go's netip
  if (family === 4) return s;
  if (family !== 6) return undefined;
  const groups = ipv6Groups(s);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return undefined; // IPv4-mapped
  return formatIPv6(groups);
}

/** The 8 groups of an IPv6 address that node:net already accepted. */
function ipv6Groups(s: string): number[] {
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
  if (gap < 0) return [...hex(head), ...tail];
  const left = hex(head.slice(0, gap));
  const right = hex(head.slice(gap + 2));
  const zeros = new Array<number>(8 - left.length - right.length - tail.length).fill(0);
  return [...left, ...zeros, ...right, ...tail];
}

/** RFC 5952: lowercase, no leading zeros, the first longest run of two or more zero groups as '::'. */
function formatIPv6(groups: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestAt < 0) return text.join(':');
  return `${text.slice(0, bestAt).join(':')}::${text.slice(bestAt + bestLen).join(':')}`;
}

// ---------------------------------------------------------------------------------------------
// resolveSpec

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function oneOf<T extends string>(values: readonly T[], v: unknown): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}

/** Length in characters (code points), as Kubernetes counts maxLength. */
function chars(s: string): number {
  return [...s].length;
}

function fail(field: string, detail: string): never {
  throw new InvalidSpecError(field, detail);
}

function supported(v: unknown, values: readonly (string | number)[]): string {
  return `Unsupported value: ${JSON.stringify(v)}: supported values: ${values.map((x) => JSON.stringify(x)).join(', ')}`;
}

function optionalObject(parent: Obj, key: string, field: string): Obj {
  const v = parent[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) fail(field, 'must be of type object');
  return v;
}

function optionalString(parent: Obj, key: string, field: string, maxLength: number): string | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(field, 'must be of type string');
  if (chars(v) > maxLength) fail(field, `Too long: may not be more than ${maxLength} characters`);
  return v;
}

function optionalList(parent: Obj, key: string, field: string, maxItems: number): unknown[] | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(field, 'must be of type array');
  if (v.length > maxItems) fail(field, `Too many: ${v.length}: must have at most ${maxItems} items`);
  return v;
}

function checkDuration(field: string, s: string, formatMessage: string): number {
  if (!GO_DURATION_RE.test(s)) fail(field, formatMessage);
  try {
    return parseDuration(s);
  } catch {
    return fail(field, formatMessage); // only an overflow gets here
  }
}

function isQualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN_RE.test(prefix))) {
    return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

function stringMap(
  parent: Obj,
  key: 'labels' | 'annotations',
  field: string,
): Record<string, string> {
  const map = optionalObject(parent, key, field);
  const entries = Object.entries(map);
  if (entries.length > LIMITS.templateMaxEntries) {
    fail(field, `Too many: ${entries.length}: must have at most ${LIMITS.templateMaxEntries} items`);
  }
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [k, v] of entries) {
    const at = `${field}[${k}]`;
    if (typeof v !== 'string') fail(at, 'must be of type string');
    if (k.startsWith(RESERVED_KEY_PREFIX) || RESERVED_KEYS.includes(k)) {
      fail(field, key === 'labels' ? MESSAGES.reservedLabels : MESSAGES.reservedAnnotations);
    }
    if (!isQualifiedName(k)) fail(at, MESSAGES.qualifiedKey);
    if (key === 'labels') {
      if (chars(v) > LIMITS.labelValueMaxLength) {
        fail(at, `Too long: may not be more than ${LIMITS.labelValueMaxLength} characters`);
      }
      if (!LABEL_VALUE_RE.test(v)) fail(at, MESSAGES.labelValue);
    }
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    out[k] = v;
  }
  if (key === 'annotations' && bytes > LIMITS.annotationsMaxBytes) fail(field, MESSAGES.annotationsTooLarge);
  return out;
}

/**
 * Fills every default and checks every rule of the CRD, plus what the CRD cannot check.
 * Throws InvalidSpecError for the first problem found (in schema order), or an Error when
 * `naming.trustDomain` is not a valid SPIFFE trust domain (operator configuration).
 */
export function resolveSpec(identity: MutualTLSIdentity, naming: OperatorNaming): ResolvedSpec {
  const meta = (isObj(identity?.metadata) ? identity.metadata : {}) as Obj;
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') fail('metadata.name', MESSAGES.nameRequired);
  const namespace = meta['namespace'];
  if (typeof namespace !== 'string' || namespace === '') fail('metadata.namespace', MESSAGES.namespaceRequired);
  if (namespace.length > 63 || !DNS1123_LABEL_RE.test(namespace)) fail('metadata.namespace', MESSAGES.namespaceInvalid);

  const rawSpec: unknown = (identity as { spec?: unknown }).spec;
  if (rawSpec !== undefined && rawSpec !== null && !isObj(rawSpec)) fail('spec', 'must be of type object');
  const spec: Obj = isObj(rawSpec) ? rawSpec : {};

  // secretName
  let secretName = optionalString(spec, 'secretName', 'spec.secretName', LIMITS.nameMaxLength);
  if (secretName === undefined) {
    if (chars(name) > MAX_NAME_FOR_DEFAULT_SECRET) fail('spec.secretName', MESSAGES.defaultSecretNameTooLong);
    secretName = `${name}${SECRET_NAME_SUFFIX}`;
  }
  if (!DNS1123_SUBDOMAIN_RE.test(secretName)) fail('spec.secretName', MESSAGES.secretName);

  // serviceAccountName → SPIFFE ID
  const serviceAccountName =
    optionalString(spec, 'serviceAccountName', 'spec.serviceAccountName', LIMITS.nameMaxLength) ??
    DEFAULT_SERVICE_ACCOUNT;
  if (!DNS1123_SUBDOMAIN_RE.test(serviceAccountName)) fail('spec.serviceAccountName', MESSAGES.serviceAccountName);

  // dnsNames
  const dnsNames: string[] = [];
  const rawDns = optionalList(spec, 'dnsNames', 'spec.dnsNames', LIMITS.dnsNamesMaxItems) ?? [];
  rawDns.forEach((v, i) => {
    const at = `spec.dnsNames[${i}]`;
    if (typeof v !== 'string') fail(at, 'must be of type string');
    if (chars(v) > LIMITS.dnsNameMaxLength) fail(at, `Too long: may not be more than ${LIMITS.dnsNameMaxLength} characters`);
    if (!DNS_NAME_RE.test(v)) fail(at, MESSAGES.dnsName);
    if (DOTTED_QUAD_RE.test(v)) fail(at, MESSAGES.dnsNameIsIP);
    if (!dnsNames.includes(v)) dnsNames.push(v);
  });

  // ipAddresses
  const ipAddresses: string[] = [];
  const rawIps = optionalList(spec, 'ipAddresses', 'spec.ipAddresses', LIMITS.ipAddressesMaxItems) ?? [];
  rawIps.forEach((v, i) => {
    const at = `spec.ipAddresses[${i}]`;
    if (typeof v !== 'string') fail(at, 'must be of type string');
    if (chars(v) > LIMITS.ipAddressMaxLength) {
      fail(at, `Too long: may not be more than ${LIMITS.ipAddressMaxLength} characters`);
    }
    const ip = canonicalIP(v);
    if (ip === undefined) fail(at, MESSAGES.ipAddress);
    if (!ipAddresses.includes(ip)) ipAddresses.push(ip);
  });

  // commonName
  const commonName = optionalString(spec, 'commonName', 'spec.commonName', LIMITS.commonNameMaxLength);
  if (commonName === '') fail('spec.commonName', 'Invalid value: "": should be at least 1 chars long');

  // duration, renewBefore
  const durationText =
    optionalString(spec, 'duration', 'spec.duration', LIMITS.durationMaxLength) ?? DEFAULT_DURATION;
  const durationMs = checkDuration('spec.duration', durationText, MESSAGES.durationFormat);
  if (durationMs < parseDuration(MIN_DURATION) || durationMs > parseDuration(MAX_DURATION)) {
    fail('spec.duration', MESSAGES.durationRange);
  }
  const renewBeforeText = optionalString(spec, 'renewBefore', 'spec.renewBefore', LIMITS.durationMaxLength);
  let renewBeforeMs: number | undefined;
  if (renewBeforeText !== undefined) {
    renewBeforeMs = checkDuration('spec.renewBefore', renewBeforeText, MESSAGES.renewBeforeFormat);
    if (!(renewBeforeMs > 0)) fail('spec.renewBefore', MESSAGES.renewBeforePositive);
    if (renewBeforeMs >= durationMs) fail('spec.renewBefore', MESSAGES.renewBeforeShorter);
  }

  // privateKey
  const pk = optionalObject(spec, 'privateKey', 'spec.privateKey');
  const algorithm = pk['algorithm'] ?? DEFAULT_KEY_ALGORITHM;
  if (!oneOf(KEY_ALGORITHMS, algorithm)) fail('spec.privateKey.algorithm', supported(algorithm, KEY_ALGORITHMS));
  const rawSize = pk['size'];
  if (rawSize !== undefined && rawSize !== null && !Number.isSafeInteger(rawSize)) {
    fail('spec.privateKey.size', 'must be of type integer');
  }
  let size: number;
  if (algorithm === 'Ed25519') {
    size = 0; // ignored
  } else if (rawSize === undefined || rawSize === null) {
    size = DEFAULT_KEY_SIZES[algorithm];
  } else {
    size = rawSize as number;
    if (!KEY_SIZES[algorithm].includes(size)) {
      fail('spec.privateKey.size', algorithm === 'RSA' ? MESSAGES.rsaSize : MESSAGES.ecdsaSize);
    }
  }
  const encoding = pk['encoding'] ?? DEFAULT_KEY_ENCODING;
  if (!oneOf(KEY_ENCODINGS, encoding)) fail('spec.privateKey.encoding', supported(encoding, KEY_ENCODINGS));
  if (encoding === 'PKCS1' && algorithm !== 'RSA') fail('spec.privateKey.encoding', MESSAGES.pkcs1RsaOnly);
  const rotationPolicy = pk['rotationPolicy'] ?? DEFAULT_ROTATION_POLICY;
  if (!oneOf(ROTATION_POLICIES, rotationPolicy)) {
    fail('spec.privateKey.rotationPolicy', supported(rotationPolicy, ROTATION_POLICIES));
  }

  // usages
  const rawUsages = optionalList(spec, 'usages', 'spec.usages', LIMITS.usagesMaxItems) ?? [...DEFAULT_USAGES];
  if (rawUsages.length === 0) fail('spec.usages', 'Invalid value: should have at least 1 items');
  const wanted = new Set<KeyUsage>();
  rawUsages.forEach((u, i) => {
    if (!oneOf(KEY_USAGES, u)) fail(`spec.usages[${i}]`, supported(u, KEY_USAGES));
    wanted.add(u);
  });
  if (!wanted.has('digital signature')) fail('spec.usages', MESSAGES.usagesDigitalSignature);
  if (wanted.has(RSA_EXTRA_USAGE) && algorithm !== 'RSA') fail('spec.usages', MESSAGES.keyEnciphermentRsaOnly);
  if (algorithm === 'RSA') wanted.add(RSA_EXTRA_USAGE);
  const usages = KEY_USAGES.filter((u) => wanted.has(u));

  // secretTemplate
  const template = optionalObject(spec, 'secretTemplate', 'spec.secretTemplate');
  const labels = stringMap(template, 'labels', 'spec.secretTemplate.labels');
  const annotations = stringMap(template, 'annotations', 'spec.secretTemplate.annotations');

  // restartWorkloads
  const restartWorkloads: WorkloadRef[] = [];
  const rawRestart = optionalList(spec, 'restartWorkloads', 'spec.restartWorkloads', LIMITS.restartWorkloadsMaxItems) ?? [];
  rawRestart.forEach((w, i) => {
    const at = `spec.restartWorkloads[${i}]`;
    if (!isObj(w)) fail(at, 'must be of type object');
    const kind = w['kind'];
    if (!oneOf(WORKLOAD_KINDS, kind)) fail(`${at}.kind`, supported(kind, WORKLOAD_KINDS));
    const wname = w['name'];
    if (typeof wname !== 'string' || wname.length > LIMITS.nameMaxLength || !DNS1123_SUBDOMAIN_RE.test(wname)) {
      fail(`${at}.name`, 'must be the name of a workload in this namespace (a DNS-1123 subdomain)');
    }
    if (!restartWorkloads.some((r) => r.kind === kind && r.name === wname)) restartWorkloads.push({ kind, name: wname });
  });

  return {
    secretName,
    serviceAccountName,
    spiffeId: spiffeId(naming.trustDomain, namespace, serviceAccountName),
    ...(commonName !== undefined ? { commonName } : {}),
    dnsNames,
    ipAddresses,
    durationMs,
    ...(renewBeforeMs !== undefined ? { renewBeforeMs } : {}),
    key: { algorithm, size },
    encoding,
    rotationPolicy,
    usages,
    secretTemplate: { labels, annotations },
    restartWorkloads,
  };
}

/** The default Secret name for an identity: `<metadata.name>-mtls`. */
export function defaultSecretName(identityName: string): string {
  return `${identityName}${SECRET_NAME_SUFFIX}`;
}

// ---------------------------------------------------------------------------------------------
// issuanceHash

/**
 * sha256 (first 32 hex characters) over exactly what shapes the certificate and key: SPIFFE ID,
 * commonName, DNS names, IP addresses, key algorithm and size, key encoding, duration, usages.
 * Not renewBefore, secretTemplate, rotationPolicy or secretName (they change no certificate).
 * Lists are sorted first, so their order does not matter.
 */
export function issuanceHash(spec: ResolvedSpec): string {
  const material = {
    v: 1,
    spiffeId: spec.spiffeId,
    commonName: spec.commonName ?? null,
    dnsNames: [...spec.dnsNames].sort(),
    ipAddresses: [...spec.ipAddresses].sort(),
    key: { algorithm: spec.key.algorithm, size: spec.key.size },
    encoding: spec.encoding,
    durationMs: spec.durationMs,
    usages: [...spec.usages].sort(),
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex').slice(0, 32);
}
