/**
 * The MutualTLSIdentity API's constants: enums, defaults, limits, patterns and messages.
 *
 * One source of truth: these (and the CEL rules of cel-rules.ts) are the ones the CRD
 * (crds/mtls.dev_mutualtlsidentities.yaml) carries (test/api/crd.test.ts fails if the two
 * drift), and a rule broken in resolveSpec (spec.ts) reports the same message the API server
 * would have.
 */
import {
  GROUP,
  LABEL_MANAGED_BY,
  type KeyAlgorithm,
  type KeyEncoding,
  type KeyUsage,
  type WorkloadKind,
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

export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];

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
  /**
   * secretTemplate.labels and secretTemplate.annotations, each (issue 19: a tenant's template is
   * held in the identity cache and copied onto the Secret, so it is bounded well below the API
   * server's own 256 KiB of annotations per object). With keys of at most 317 characters
   * (qualified names) and values of at most 1024, a template is at most ~42 KiB.
   */
  templateMaxEntries: 32,
  labelValueMaxLength: 63,
  annotationValueMaxLength: 1024,
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
  pkcs12Password: 'a PKCS#12 keystore needs a password: set passwordSecretRef',
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
  namespaceRequired: 'a MutualTLSIdentity must have a namespace',
  namespaceInvalid: 'namespace must be a DNS-1123 label',
  nameRequired: 'a MutualTLSIdentity must have a name',
} as const;
