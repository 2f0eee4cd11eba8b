/**
 * The MutualTLSIdentity spec, resolved: every default filled in and every rule checked.
 *
 * The CRD (crds/mtls.dev_mutualtlsidentities.yaml) is the first line of defence: its OpenAPI
 * schema and CEL rules reject bad specs at admission. This module is the backstop for specs that
 * slip past it (an older CRD still installed, CEL disabled, an object written before a rule
 * existed) and checks what the CRD cannot (IP canonical form, label and annotation keys, sizes).
 *
 * One source of truth: the limits, enums, defaults, patterns (constants.ts) and CEL rules
 * (cel-rules.ts) are the ones the CRD carries (test/api/crd.test.ts fails if the two drift), and
 * a rule broken here reports the same message the API server would have. This module re-exports
 * them, with the durations (duration.ts), InvalidSpecError (fields.ts) and spiffeId (spiffe.ts),
 * so that importers need only this one.
 *
 * Pure: no Kubernetes client, no clock, no I/O.
 */
import { createHash } from 'node:crypto';
import { parseIP } from '../net/ip.ts';
import {
  DEFAULT_DURATION,
  DEFAULT_KEY_ALGORITHM,
  DEFAULT_KEY_ENCODING,
  DEFAULT_KEY_SIZES,
  DEFAULT_ROTATION_POLICY,
  DEFAULT_SERVICE_ACCOUNT,
  DEFAULT_USAGES,
  DNS_NAME_PATTERN,
  DOTTED_QUAD_PATTERN,
  KEY_ALGORITHMS,
  KEY_ENCODINGS,
  KEY_SIZES,
  KEY_USAGES,
  LIMITS,
  MAX_DURATION,
  MAX_NAME_FOR_DEFAULT_SECRET,
  MESSAGES,
  MIN_DURATION,
  ROTATION_POLICIES,
  RSA_EXTRA_USAGE,
  SECRET_NAME_SUFFIX,
  WORKLOAD_KINDS,
} from './constants.ts';
import { parseDuration } from './duration.ts';
import {
  DNS1123_SUBDOMAIN_RE,
  checkDuration,
  chars,
  fail,
  isObj,
  oneOf,
  optionalList,
  optionalObject,
  optionalString,
  stringMap,
  supported,
  type Obj,
} from './fields.ts';
import { spiffeId } from './spiffe.ts';
import type { KeyAlgorithm, KeyEncoding, KeyUsage, MutualTLSIdentity, RotationPolicy, WorkloadRef } from './types.ts';

export * from './constants.ts';
export * from './cel-rules.ts';
export { formatDuration, parseDuration } from './duration.ts';
export { InvalidSpecError } from './fields.ts';
export { spiffeId } from './spiffe.ts';

const DNS_NAME_RE = new RegExp(DNS_NAME_PATTERN);
const DOTTED_QUAD_RE = new RegExp(DOTTED_QUAD_PATTERN);
const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

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

// ---------------------------------------------------------------------------------------------
// IP addresses

/**
 * Canonical text of a valid IP (IPv6 as net/ip.ts canonicalIPv6 writes it), or undefined when
 * Kubernetes' isIP() would refuse it: zones, IPv4 octets with leading zeros, and IPv4-mapped
 * IPv6 addresses (in either form, `::ffff:10.0.0.1` or `::ffff:a00:1`).
 */
export function canonicalIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip === undefined || ip.mappedV4 !== undefined ? undefined : ip.text;
}

// ---------------------------------------------------------------------------------------------
// resolveSpec

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
