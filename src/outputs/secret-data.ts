/**
 * The extra Secret entries of an identity, in one call for the reconciler:
 *
 *   const outputs = resolveKeystoreSpec(identity.spec);              // InvalidSpecError -> InvalidSpec
 *   const ref = outputs.pkcs12?.passwordSecretRef;
 *   const passwordSecret = ref ? await cluster.getSecret(namespace, ref.name) : undefined;
 *   const out = buildOutputData({ outputs, pems, passwordSecret, existing: secret, namespace });
 *   if (!out.ok) -> Ready=False, reason out.reason (KeystorePasswordMissing | KeystorePasswordInvalid)
 *   else -> Secret.data = { tls.crt, tls.key, ca.crt, ...out.data },
 *           annotations = { ...desired, ...out.annotations }             (same single apply)
 *
 * Keystores carry random salts and IVs, so building them twice gives different bytes. To keep the
 * Secret stable across reconciles, `existing` keystores are kept byte for byte while nothing they
 * were built from changed: the annotation mtls.dev/outputs-hash binds the inputs (chain, key,
 * bundle, profile, alias, password) to the bytes, and is checked with two SHA-256s, no KDF.
 * Outputs no longer asked for are simply absent from `data` (a server-side apply drops them).
 */
import { createHash, createHmac } from 'node:crypto';
import type { Secret } from '../api/types.ts';
import { buildKeystores, checkPassword, combinedPem, DEFAULT_KEYSTORE_ALIAS, KEYSTORE_PASSWORD_MAX_LENGTH, type KeystoreInput, type Keystores } from './pkcs12.ts';
import { buildKeystoresOffThread } from './off-thread.ts';
import { KEYSTORE_P12, TLS_COMBINED_PEM, TRUSTSTORE_P12, type OutputsSpec } from './spec.ts';

/** Secret annotation binding the keystores to what they were built from. */
export const ANNOTATION_OUTPUTS_HASH = 'mtls.dev/outputs-hash';
/** Ready=False reason when the password Secret or its key is absent or unusable. */
export const REASON_KEYSTORE_PASSWORD_MISSING = 'KeystorePasswordMissing';
/** Ready=False reason when the password is one Java cannot use (not printable ASCII). */
export const REASON_KEYSTORE_PASSWORD_INVALID = 'KeystorePasswordInvalid';

export interface OutputPems {
  certChainPem: string;
  keyPem: string;
  caPem: string;
}

export interface OutputInput {
  outputs: OutputsSpec;
  /** What tls.crt, tls.key and ca.crt will hold. */
  pems: OutputPems;
  /** The Secret named by passwordSecretRef (identity's namespace); undefined: absent. Read only with pkcs12. */
  passwordSecret?: Secret | undefined;
  /** The issued Secret as it is now: its keystores are kept while still current. */
  existing?: Secret | undefined;
  /** The identity's namespace, for messages. */
  namespace?: string;
  /** The identity's name: the password Secret must opt in for it (the operator always passes it). */
  identity?: string;
}

export type OutputResult =
  | {
      ok: true;
      /** Entries to add to the Secret's data, base64 as the API serves them. */
      data: Record<string, string>;
      /** Annotations to add to the Secret (ANNOTATION_OUTPUTS_HASH when keystores are on). */
      annotations: Record<string, string>;
    }
  | { ok: false; reason: typeof REASON_KEYSTORE_PASSWORD_MISSING | typeof REASON_KEYSTORE_PASSWORD_INVALID; message: string };

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Annotation on a keystore password Secret naming the identities (comma-separated metadata.name,
 * same namespace) that may use it (issue 19, point 5). Whoever can write the Secret opts it in;
 * without it the operator, which can read every Secret, would lend that right to anyone who can
 * create an identity, and its status would tell whether a Secret and a key exist.
 */
export const ANNOTATION_KEYSTORE_PASSWORD_FOR = 'mtls.dev/keystore-for';

/** Whether the Secret names `identity` in ANNOTATION_KEYSTORE_PASSWORD_FOR. */
export function optedIn(secret: Secret, identity: string): boolean {
  const names = secret.metadata.annotations?.[ANNOTATION_KEYSTORE_PASSWORD_FOR] ?? '';
  return names.split(',').some((n) => n.trim() === identity);
}

/**
 * The password from its Secret, or why there is none. With `identity` (the operator's path), a
 * Secret that has not opted in for that identity reads exactly like an absent one: nothing about
 * it (existence, keys, content) reaches status or Events.
 */
export function keystorePassword(
  ref: { name: string; key: string },
  secret: Secret | undefined,
  namespace?: string,
  identity?: string,
): { password: string } | { problem: string } {
  const where = namespace ? `${namespace}/${ref.name}` : ref.name;
  const field = 'spec.keystores.pkcs12.passwordSecretRef';
  if (identity !== undefined && (!secret || !optedIn(secret, identity))) {
    return { problem: `the keystore password Secret ${where} (${field}) does not exist or does not name identity ${identity} in its annotation ${ANNOTATION_KEYSTORE_PASSWORD_FOR}` };
  }
  if (!secret) return { problem: `the keystore password Secret ${where} (${field}) does not exist` };
  const value = secret.data?.[ref.key];
  if (value === undefined) return { problem: `the keystore password Secret ${where} has no key "${ref.key}" (${field}.key)` };
  // Not decoded past the bound: base64 of 128 characters (UTF-8, at most 4 bytes each) is at most 684.
  if (value.length > Math.ceil((KEYSTORE_PASSWORD_MAX_LENGTH * 4) / 3) + 4) {
    return { password: 'x'.repeat(KEYSTORE_PASSWORD_MAX_LENGTH + 1) };
  }
  const password = Buffer.from(value, 'base64').toString('utf8');
  if (password === '') return { problem: `the keystore password in Secret ${where}, key "${ref.key}", is empty` };
  return { password };
}

/**
 * The keystore password, or why the outputs cannot be built (checked before any key is made).
 * No keystore asked for: an empty password.
 */
export function usablePassword(
  outputs: OutputsSpec,
  passwordSecret: Secret | undefined,
  namespace?: string,
  identity?: string,
): { password: string } | { reason: typeof REASON_KEYSTORE_PASSWORD_MISSING | typeof REASON_KEYSTORE_PASSWORD_INVALID; message: string } {
  if (!outputs.pkcs12) return { password: '' };
  const { passwordSecretRef } = outputs.pkcs12;
  const got = keystorePassword(passwordSecretRef, passwordSecret, namespace, identity);
  if ('problem' in got) return { reason: REASON_KEYSTORE_PASSWORD_MISSING, message: got.problem };
  try {
    checkPassword(got.password);
  } catch (err) {
    const where = namespace ? `${namespace}/${passwordSecretRef.name}` : passwordSecretRef.name;
    return { reason: REASON_KEYSTORE_PASSWORD_INVALID, message: `Secret ${where}, key "${passwordSecretRef.key}": ${(err as Error).message}` };
  }
  return got;
}

/**
 * Digest of everything the keystores are built from. The password enters only as the identity of
 * its Secret version (uid, resourceVersion, key): nothing derived from the password itself, so the
 * annotation cannot test password guesses offline (issue 19, point 5). A Secret without a
 * resourceVersion (never one served by the API server) falls back to a password HMAC.
 */
function inputsDigest(pems: OutputPems, profile: string, alias: string, passwordSecret: Secret | undefined, key: string, password: string): string {
  const m = passwordSecret?.metadata;
  const passwordVersion = m?.resourceVersion
    ? `${m.uid ?? ''}/${m.resourceVersion}/${key}`
    : createHmac('sha256', password).update('mtls.dev/keystore-password').digest('hex');
  return sha256(JSON.stringify({
    v: 2,
    profile,
    alias,
    chain: sha256(pems.certChainPem),
    key: sha256(pems.keyPem),
    ca: sha256(pems.caPem),
    password: passwordVersion,
  }));
}

function outputsHash(inputs: string, keystoreB64: string, truststoreB64: string): string {
  return sha256(`${inputs}:${sha256(keystoreB64)}:${sha256(truststoreB64)}`).slice(0, 32);
}

/**
 * The Secret entries (and annotation) for the outputs asked for, or why the password is unusable.
 * Throws KeystoreError when the material cannot become a keystore (an issuance failure).
 */
export function buildOutputData(input: OutputInput): OutputResult {
  return outputData(input, (k) => buildKeystores(k));
}

/** buildOutputData with the keystores built in a worker thread (the reconciler's path). */
export async function buildOutputDataOffThread(input: OutputInput): Promise<OutputResult> {
  const asked: { input?: KeystoreInput } = {};
  const first = outputData(input, (k) => {
    asked.input = k;
    return undefined;
  });
  if (asked.input === undefined) return first;
  const built = await buildKeystoresOffThread(asked.input);
  return outputData(input, () => built);
}

function outputData(input: OutputInput, build: (k: KeystoreInput) => Keystores | undefined): OutputResult {
  const { outputs, pems, existing } = input;
  const data: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  if (outputs.combinedPem) data[TLS_COMBINED_PEM] = Buffer.from(combinedPem(pems.keyPem, pems.certChainPem)).toString('base64');
  if (!outputs.pkcs12) return { ok: true, data, annotations };

  const { passwordSecretRef, profile } = outputs.pkcs12;
  const got = usablePassword(outputs, input.passwordSecret, input.namespace, input.identity);
  if ('reason' in got) return { ok: false, ...got };
  const alias = DEFAULT_KEYSTORE_ALIAS;
  const inputs = inputsDigest(pems, profile, alias, input.passwordSecret, passwordSecretRef.key, got.password);

  const oldKeystore = existing?.data?.[KEYSTORE_P12];
  const oldTruststore = existing?.data?.[TRUSTSTORE_P12];
  const oldHash = existing?.metadata.annotations?.[ANNOTATION_OUTPUTS_HASH];
  if (oldKeystore && oldTruststore && oldHash === outputsHash(inputs, oldKeystore, oldTruststore)) {
    data[KEYSTORE_P12] = oldKeystore;
    data[TRUSTSTORE_P12] = oldTruststore;
    annotations[ANNOTATION_OUTPUTS_HASH] = oldHash;
    return { ok: true, data, annotations };
  }
  const stores = build({ ...pems, password: got.password, profile, alias });
  if (!stores) return { ok: true, data, annotations };
  data[KEYSTORE_P12] = stores.keystore.toString('base64');
  data[TRUSTSTORE_P12] = stores.truststore.toString('base64');
  annotations[ANNOTATION_OUTPUTS_HASH] = outputsHash(inputs, data[KEYSTORE_P12], data[TRUSTSTORE_P12]);
  return { ok: true, data, annotations };
}
