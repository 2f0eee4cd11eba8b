/**
 * Reading the untyped object a MutualTLSIdentity arrives as: the checks of the CRD's OpenAPI
 * schema (types, lengths, item counts, map keys), each failing with the message the API server
 * would give, as an InvalidSpecError. resolveSpec (spec.ts) builds on these.
 *
 * Pure: no Kubernetes client, no clock, no I/O.
 */
import {
  DNS1123_SUBDOMAIN_PATTERN,
  LABEL_VALUE_PATTERN,
  LIMITS,
  MESSAGES,
  RESERVED_KEY_PREFIX,
  RESERVED_KEYS,
} from './constants.ts';
import { GO_DURATION_RE, parseDuration } from './duration.ts';

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

/** DNS1123_SUBDOMAIN_PATTERN, compiled. */
export const DNS1123_SUBDOMAIN_RE = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
const LABEL_VALUE_RE = new RegExp(LABEL_VALUE_PATTERN);
/** The name part of a Kubernetes qualified name (label / annotation key). */
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function oneOf<T extends string>(values: readonly T[], v: unknown): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}

/** Length in characters (code points), as Kubernetes counts maxLength. */
export function chars(s: string): number {
  return [...s].length;
}

/** Throws the InvalidSpecError for `field`. */
export function fail(field: string, detail: string): never {
  throw new InvalidSpecError(field, detail);
}

/** The API server's message for a value outside an enum. */
export function supported(v: unknown, values: readonly (string | number)[]): string {
  return `Unsupported value: ${JSON.stringify(v)}: supported values: ${values.map((x) => JSON.stringify(x)).join(', ')}`;
}

/** `parent[key]`, absent or null as {}; anything but an object fails. */
export function optionalObject(parent: Obj, key: string, field: string): Obj {
  const v = parent[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) fail(field, 'must be of type object');
  return v;
}

/** `parent[key]`, absent or null as undefined; a non-string or one over maxLength fails. */
export function optionalString(parent: Obj, key: string, field: string, maxLength: number): string | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(field, 'must be of type string');
  if (chars(v) > maxLength) fail(field, `Too long: may not be more than ${maxLength} characters`);
  return v;
}

/** `parent[key]`, absent or null as undefined; a non-list or one over maxItems fails. */
export function optionalList(parent: Obj, key: string, field: string, maxItems: number): unknown[] | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(field, 'must be of type array');
  if (v.length > maxItems) fail(field, `Too many: ${v.length}: must have at most ${maxItems} items`);
  return v;
}

/** A Go duration in milliseconds; anything else fails with `formatMessage`. */
export function checkDuration(field: string, s: string, formatMessage: string): number {
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

/**
 * secretTemplate.labels or .annotations: string values, qualified-name keys, no reserved keys,
 * valid label values, bounded annotation values.
 */
export function stringMap(
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
    } else if (chars(v) > LIMITS.annotationValueMaxLength) {
      fail(at, `Too long: may not be more than ${LIMITS.annotationValueMaxLength} characters`);
    }
    out[k] = v;
  }
  return out;
}
