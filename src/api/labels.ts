/**
 * Label values the API server accepts. A label value is at most 63 characters (and starts and ends with an
 * alphanumeric), while an identity's name may be a DNS subdomain of up to 253: a real kube-apiserver refuses a Secret
 * labelled with such a name (422 metadata.labels: Invalid value), so the identity label of a long name carries a
 * readable prefix and a hash instead. Which identity owns a Secret is always its controller ownerReference; the
 * label is for `kubectl get -l` and for routing watch events.
 */
import { createHash } from 'node:crypto';

export const LABEL_VALUE_MAX = 63;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isLabelValue(v: string): boolean {
  return v.length <= LABEL_VALUE_MAX && LABEL_VALUE.test(v);
}

/** The `mtls.dev/identity` label value for an identity name: the name itself when it fits, else `<52 chars>-<10 hex>`. */
export function identityLabelValue(name: string): string {
  if (isLabelValue(name)) return name;
  return `${name.slice(0, 52)}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

/** True when a label value is the name itself (so it can be used as the identity's name without a lookup). */
export function labelIsName(value: string): boolean {
  return value.length < LABEL_VALUE_MAX || !/-[0-9a-f]{10}$/.test(value);
}
