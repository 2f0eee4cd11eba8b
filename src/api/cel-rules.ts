/**
 * The CRD's CEL rules (x-kubernetes-validations), by schema location.
 *
 * `path` names the schema node: '' is the root, '.' between properties, '[]' a list's items,
 * '{}' a map's values. The CRD carries exactly these rules (test/api/crd.test.ts).
 * Kubernetes >= 1.31 is needed for isIP() (CEL IP library, introduced in 1.30).
 */
import {
  DEFAULT_DURATION,
  DNS1123_SUBDOMAIN_PATTERN,
  DNS_NAME_PATTERN,
  DOTTED_QUAD_PATTERN,
  GO_DURATION_PATTERN,
  KEY_SIZES,
  LABEL_VALUE_PATTERN,
  MAX_DURATION,
  MAX_NAME_FOR_DEFAULT_SECRET,
  MESSAGES,
  MIN_DURATION,
  RESERVED_KEY_PREFIX,
} from './constants.ts';
import { LABEL_MANAGED_BY } from './types.ts';

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
  {
    path: 'spec.keystores.pkcs12',
    rule: '!has(self.enabled) || !self.enabled || has(self.passwordSecretRef)',
    message: MESSAGES.pkcs12Password,
  },
];
