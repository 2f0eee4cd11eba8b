/**
 * The syntax of names, shared by checkNames (names.ts) and the policy config (config.ts): DNS
 * names (rule `dns-syntax`, see the module comment of names.ts), DNS labels (namespace names) and
 * DNS subdomains (service account names).
 *
 * Pure: no I/O.
 */

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DOTTED_QUAD_RE = /^[0-9]+(\.[0-9]+){3}$/;
export const MAX_NAME = 253;
export const MAX_LABEL = 63;

/** Why `name` is not a lowercase RFC 1123 DNS name (optionally `*.`-prefixed), or undefined. */
export function dnsSyntaxProblem(name: string): string | undefined {
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

export function isLabel(s: string): boolean {
  return s.length <= MAX_LABEL && LABEL_RE.test(s);
}

export function isSubdomain(s: string): boolean {
  return s.length <= MAX_NAME && s.split('.').every(isLabel);
}

/** `s` JSON-quoted, for messages. */
export function q(s: string): string {
  return JSON.stringify(s);
}
