/**
 * The identity spec's extra outputs, named as in cert-manager's Certificate:
 *
 *   spec:
 *     keystores:
 *       pkcs12:
 *         enabled: true
 *         passwordSecretRef: { name: app-keystore-password, key: password }
 *         profile: Modern            # Modern (default) | Legacy
 *     additionalOutputFormats:
 *       - type: CombinedPEM
 *
 * Pure: checks the shape and fills defaults; errors are InvalidSpecError like resolveSpec's.
 */
import { DNS1123_SUBDOMAIN_PATTERN, LIMITS } from '../api/constants.ts';
import { fail, isObj, optionalObject, supported, type Obj } from '../api/fields.ts';
import type { Pkcs12Profile } from './pkcs12.ts';

/** Secret keys of the extra outputs (cert-manager's names). */
export const KEYSTORE_P12 = 'keystore.p12';
export const TRUSTSTORE_P12 = 'truststore.p12';
export const TLS_COMBINED_PEM = 'tls-combined.pem';

/** spec.keystores.pkcs12.profile values (the CRD enum), and what each builds. */
export type KeystoreProfileName = 'Modern' | 'Legacy';
export const KEYSTORE_PROFILES: readonly KeystoreProfileName[] = ['Modern', 'Legacy'];
export const DEFAULT_KEYSTORE_PROFILE: KeystoreProfileName = 'Modern';
export const PROFILE_OF: Readonly<Record<KeystoreProfileName, Pkcs12Profile>> = { Modern: 'modern', Legacy: 'legacy' };

export type OutputFormat = 'CombinedPEM';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['CombinedPEM'];
export const OUTPUT_FORMATS_MAX_ITEMS = 4;

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface Pkcs12Output {
  /** A Secret in the identity's namespace holding the keystore password. */
  passwordSecretRef: SecretKeyRef;
  profile: Pkcs12Profile;
}

/** The extra outputs an identity asks for. Nothing asked: `{ combinedPem: false }`. */
export interface OutputsSpec {
  pkcs12?: Pkcs12Output;
  combinedPem: boolean;
}

const DNS1123_SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN_PATTERN);
/** Secret data keys: [-._a-zA-Z0-9]+, at most 253 characters. */
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

/** `parent[key]` when present (an object), undefined when absent or null. */
function object(parent: Obj, key: string, field: string): Obj | undefined {
  const v = parent[key];
  return v === undefined || v === null ? undefined : optionalObject(parent, key, field);
}

function pkcs12Of(keystores: Obj): Pkcs12Output | undefined {
  const at = 'spec.keystores.pkcs12';
  const p = object(keystores, 'pkcs12', at);
  if (!p) return undefined;
  const enabled = p['enabled'] ?? false;
  if (typeof enabled !== 'boolean') fail(`${at}.enabled`, 'must be of type boolean');
  const profileName = p['profile'] ?? DEFAULT_KEYSTORE_PROFILE;
  if (!KEYSTORE_PROFILES.includes(profileName as KeystoreProfileName)) fail(`${at}.profile`, supported(profileName, KEYSTORE_PROFILES));
  const ref = object(p, 'passwordSecretRef', `${at}.passwordSecretRef`);
  if (!ref) {
    if (enabled) fail(`${at}.passwordSecretRef`, 'Required value: a PKCS#12 keystore needs a password: name a Secret and its key');
    return undefined;
  }
  const name = ref['name'];
  if (typeof name !== 'string' || name === '') fail(`${at}.passwordSecretRef.name`, 'Required value: the name of a Secret in this namespace');
  if (name.length > LIMITS.nameMaxLength || !DNS1123_SUBDOMAIN.test(name)) fail(`${at}.passwordSecretRef.name`, 'must be a Secret name (a DNS-1123 subdomain)');
  const key = ref['key'];
  if (typeof key !== 'string' || key === '') fail(`${at}.passwordSecretRef.key`, 'Required value: the key of the password in that Secret');
  if (!SECRET_KEY.test(key)) fail(`${at}.passwordSecretRef.key`, "must be a Secret data key: letters, digits, '-', '_' and '.'");
  if (!enabled) return undefined;
  return { passwordSecretRef: { name, key }, profile: PROFILE_OF[profileName as KeystoreProfileName] };
}

function combinedOf(spec: Obj): boolean {
  const at = 'spec.additionalOutputFormats';
  const list = spec['additionalOutputFormats'];
  if (list === undefined || list === null) return false;
  if (!Array.isArray(list)) fail(at, 'must be of type array');
  if (list.length > OUTPUT_FORMATS_MAX_ITEMS) fail(at, `Too many: ${list.length}: must have at most ${OUTPUT_FORMATS_MAX_ITEMS} items`);
  let combined = false;
  list.forEach((item, i) => {
    if (!isObj(item)) fail(`${at}[${i}]`, 'must be of type object');
    const type = item['type'];
    if (!OUTPUT_FORMATS.includes(type as OutputFormat)) fail(`${at}[${i}].type`, supported(type, OUTPUT_FORMATS));
    combined = true;
  });
  return combined;
}

/**
 * The extra outputs asked for by an identity's spec (`identity.spec`; anything else is refused
 * with InvalidSpecError). A disabled pkcs12 block is checked but builds nothing.
 */
export function resolveKeystoreSpec(spec: unknown): OutputsSpec {
  if (spec === undefined || spec === null) return { combinedPem: false };
  if (!isObj(spec)) fail('spec', 'must be of type object');
  const keystores = object(spec, 'keystores', 'spec.keystores');
  const pkcs12 = keystores ? pkcs12Of(keystores) : undefined;
  return { ...(pkcs12 ? { pkcs12 } : {}), combinedPem: combinedOf(spec) };
}
