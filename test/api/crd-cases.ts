/**
 * The table of good and bad MutualTLSIdentity specs with the refusals the CRD's validation must give, in the API
 * server's words (`<field>: <message>`). test/api/crd.test.ts runs it through cel-js and resolveSpec; test/real/crd.test.ts
 * sends it to a real kube-apiserver, whose verdict is the one that counts.
 */
import { InvalidSpecError, MAX_NAME_FOR_DEFAULT_SECRET, MESSAGES, resolveSpec } from '../../src/api/spec.ts';
import { GROUP, KIND, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';

export function identityWith(spec: Record<string, unknown> | undefined, name = 'web'): MutualTLSIdentity {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace: 'prod' }, ...(spec ? { spec } : {}) } as MutualTLSIdentity;
}

/** resolveSpec's refusal (the operator's backstop), or undefined. */
export function backstop(object: MutualTLSIdentity): string | undefined {
  try {
    resolveSpec(object, { trustDomain: 'cluster.local' });
    return undefined;
  } catch (e) {
    if (e instanceof InvalidSpecError) return e.message;
    throw e;
  }
}

/** Every field set, every rule satisfied. */
export const FULL_SPEC = {
  secretName: 'web-tls',
  serviceAccountName: 'web',
  dnsNames: ['web.prod.svc', 'web.prod.svc.cluster.local', '*.web.prod.svc', 'a-1.web.prod'],
  ipAddresses: ['10.0.0.7', 'fd00::7', 'FD00::8'],
  commonName: 'web.prod.svc',
  duration: '2160h',
  renewBefore: '720h',
  privateKey: { algorithm: 'RSA', size: 3072, encoding: 'PKCS1', rotationPolicy: 'Never' },
  usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
  secretTemplate: {
    labels: { team: 'payments', 'app.kubernetes.io/name': 'web', empty: '' },
    annotations: { 'reloader.example.com/match': 'true', 'mtls.dev.example/x': 'y' },
  },
  keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: 'web-keystore', key: 'password' }, profile: 'Legacy' } },
  additionalOutputFormats: [{ type: 'CombinedPEM' }],
  restartWorkloads: [{ kind: 'Deployment', name: 'web' }],
  podCertificates: true,
};

export interface CrdCase {
  title: string;
  spec?: Record<string, unknown>;
  name?: string;
  /** The refusals, in schema order; [] for accepted. */
  want: string[];
  /** false: the operator checks this elsewhere, with its own words (not in resolveSpec). */
  backstop?: false;
}

const ok = (title: string, spec: Record<string, unknown> | undefined, name?: string): CrdCase => ({
  title,
  ...(spec ? { spec } : {}),
  ...(name ? { name } : {}),
  want: [],
});

export const CRD_CASES: CrdCase[] = [
  ok('a full spec', FULL_SPEC),
  ok('no spec (all defaults)', undefined),
  ok('an empty spec', {}),
  ok(`a name of ${MAX_NAME_FOR_DEFAULT_SECRET} characters with the default Secret name`, {}, 'a'.repeat(MAX_NAME_FOR_DEFAULT_SECRET)),
  ok('a longer name with a secretName', { secretName: 'web-tls' }, 'a'.repeat(253)),
  {
    title: 'a longer name with the default Secret name',
    name: 'a'.repeat(MAX_NAME_FOR_DEFAULT_SECRET + 1),
    want: [`spec.secretName: ${MESSAGES.defaultSecretNameTooLong}`],
  },
  { title: 'a secretName that is not a DNS-1123 subdomain', spec: { secretName: 'Web_TLS' }, want: [`spec.secretName: ${MESSAGES.secretName}`] },
  {
    title: 'a serviceAccountName that is not a DNS-1123 subdomain',
    spec: { serviceAccountName: 'a..b' },
    want: [`spec.serviceAccountName: ${MESSAGES.serviceAccountName}`],
  },
  {
    title: 'a dotted quad in dnsNames',
    spec: { dnsNames: ['web.prod.svc', '10.0.0.7'] },
    want: [`spec.dnsNames[1]: ${MESSAGES.dnsNameIsIP}`],
  },
  {
    title: 'DNS names that are not lowercase RFC 1123, or put the wildcard elsewhere',
    spec: { dnsNames: ['Web.prod.svc', 'web.prod.svc.', 'a.*.prod', '-a.prod', `${'a'.repeat(64)}.prod`, '*.prod'] },
    want: [0, 1, 2, 3, 4].map((i) => `spec.dnsNames[${i}]: ${MESSAGES.dnsName}`),
  },
  {
    title: 'IP addresses with a zone, leading zeros, the IPv4-mapped form, or none at all',
    spec: { ipAddresses: ['10.0.0.7', 'fe80::1%eth0', '010.0.0.7', '::ffff:10.0.0.7', 'web.prod.svc'] },
    want: [1, 2, 3, 4].map((i) => `spec.ipAddresses[${i}]: ${MESSAGES.ipAddress}`),
  },
  { title: 'a duration with a d unit', spec: { duration: '90d' }, want: [`spec.duration: ${MESSAGES.durationFormat}`] },
  { title: 'a duration under 1h', spec: { duration: '59m59s' }, want: [`spec.duration: ${MESSAGES.durationRange}`] },
  { title: 'a duration over 2160h', spec: { duration: '2160h1ns' }, want: [`spec.duration: ${MESSAGES.durationRange}`] },
  ok('a duration of 1h, in fractions', { duration: '0.5h30m', renewBefore: '.25h' }),
  {
    title: 'renewBefore equal to duration',
    spec: { duration: '1.5h', renewBefore: '1h30m' },
    want: [`spec.renewBefore: ${MESSAGES.renewBeforeShorter}`],
  },
  {
    title: 'renewBefore longer than the default duration',
    spec: { renewBefore: '25h' },
    want: [`spec.renewBefore: ${MESSAGES.renewBeforeShorter}`],
  },
  ok('renewBefore just shorter than the default duration', { renewBefore: '23h59m59s' }),
  { title: 'renewBefore of 0s', spec: { renewBefore: '0s' }, want: [`spec.renewBefore: ${MESSAGES.renewBeforePositive}`] },
  { title: 'renewBefore in days', spec: { renewBefore: '1d' }, want: [`spec.renewBefore: ${MESSAGES.renewBeforeFormat}`] },
  {
    title: 'a bad duration does not also fail the renewBefore comparison',
    spec: { duration: '1d', renewBefore: '8h' },
    want: [`spec.duration: ${MESSAGES.durationFormat}`],
  },
  {
    title: 'PKCS1 with ECDSA',
    spec: { privateKey: { algorithm: 'ECDSA', encoding: 'PKCS1' } },
    want: [`spec.privateKey.encoding: ${MESSAGES.pkcs1RsaOnly}`],
  },
  {
    title: 'PKCS1 with the default algorithm',
    spec: { privateKey: { encoding: 'PKCS1' } },
    want: [`spec.privateKey.encoding: ${MESSAGES.pkcs1RsaOnly}`],
  },
  {
    title: 'PKCS1 with Ed25519',
    spec: { privateKey: { algorithm: 'Ed25519', encoding: 'PKCS1' } },
    want: [`spec.privateKey.encoding: ${MESSAGES.pkcs1RsaOnly}`],
  },
  { title: 'an ECDSA key of 2048 bits', spec: { privateKey: { size: 2048 } }, want: [`spec.privateKey.size: ${MESSAGES.ecdsaSize}`] },
  {
    title: 'an RSA key of 256 bits',
    spec: { privateKey: { algorithm: 'RSA', size: 256 } },
    want: [`spec.privateKey.size: ${MESSAGES.rsaSize}`],
  },
  ok('an ECDSA key of 384 bits, an empty secretTemplate', { privateKey: { size: 384 }, secretTemplate: {} }),
  ok('an Ed25519 key with a size', { privateKey: { algorithm: 'Ed25519', size: 1 } }),
  {
    title: 'key encipherment with ECDSA',
    spec: { usages: ['digital signature', 'key encipherment'] },
    want: [`spec.usages: ${MESSAGES.keyEnciphermentRsaOnly}`],
  },
  {
    title: 'key encipherment with Ed25519',
    spec: { usages: ['digital signature', 'key encipherment'], privateKey: { algorithm: 'Ed25519' } },
    want: [`spec.usages: ${MESSAGES.keyEnciphermentRsaOnly}`],
  },
  { title: 'usages without digital signature', spec: { usages: ['server auth'] }, want: [`spec.usages: ${MESSAGES.usagesDigitalSignature}`] },
  {
    title: 'reserved secretTemplate labels',
    spec: { secretTemplate: { labels: { 'mtls.dev/identity': 'web' } } },
    want: [`spec.secretTemplate.labels: ${MESSAGES.reservedLabels}`],
  },
  {
    title: 'the managed-by label',
    spec: { secretTemplate: { labels: { 'app.kubernetes.io/managed-by': 'me' } } },
    want: [`spec.secretTemplate.labels: ${MESSAGES.reservedLabels}`],
  },
  {
    title: 'reserved secretTemplate annotations',
    spec: { secretTemplate: { annotations: { 'mtls.dev/hash': 'x' } } },
    want: [`spec.secretTemplate.annotations: ${MESSAGES.reservedAnnotations}`],
  },
  {
    title: 'a label value that is not one',
    spec: { secretTemplate: { labels: { team: 'pay ments' } } },
    want: [`spec.secretTemplate.labels[team]: ${MESSAGES.labelValue}`],
  },
  {
    title: 'keystores.pkcs12.enabled without passwordSecretRef',
    spec: { keystores: { pkcs12: { enabled: true } } },
    want: [`spec.keystores.pkcs12: ${MESSAGES.pkcs12Password}`],
    backstop: false, // src/outputs/spec.ts refuses it, in its own words
  },
  ok('keystores.pkcs12 disabled without passwordSecretRef', { keystores: { pkcs12: { enabled: false } } }),
  ok('keystores.pkcs12 with neither', { keystores: { pkcs12: {} } }),
  ok('podCertificates false', { podCertificates: false }),
  {
    title: 'several problems at once, each reported',
    spec: {
      dnsNames: ['1.2.3.4'],
      ipAddresses: ['1.2.3'],
      renewBefore: '48h',
      privateKey: { encoding: 'PKCS1', size: 4096 },
      usages: ['key encipherment'],
    },
    want: [
      `spec.renewBefore: ${MESSAGES.renewBeforeShorter}`,
      `spec.usages: ${MESSAGES.keyEnciphermentRsaOnly}`,
      `spec.dnsNames[0]: ${MESSAGES.dnsNameIsIP}`,
      `spec.ipAddresses[0]: ${MESSAGES.ipAddress}`,
      `spec.privateKey.size: ${MESSAGES.ecdsaSize}`,
      `spec.privateKey.encoding: ${MESSAGES.pkcs1RsaOnly}`,
      `spec.usages: ${MESSAGES.usagesDigitalSignature}`,
    ],
  },
];
