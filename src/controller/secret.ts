/** The issued Secret: how it is built, decoded, and whose it is. */
import { identityLabelValue } from '../api/labels.ts';
import {
  ANNOTATION_CA_FINGERPRINT,
  ANNOTATION_NOT_AFTER,
  ANNOTATION_REVISION,
  ANNOTATION_SERIAL,
  ANNOTATION_SPEC_HASH,
  ANNOTATION_SPIFFE_ID,
  ANNOTATION_TEMPLATE_HASH,
  API_VERSION,
  FIELD_MANAGER,
  CA_CRT,
  KIND,
  LABEL_IDENTITY,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  TLS_CRT,
  TLS_KEY,
  type MutualTLSIdentity,
  type Secret,
} from '../api/types.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import { createHash } from 'node:crypto';

/** Annotation a person sets on an identity to force a renewal (kubectl-mtls renew). */
export const ANNOTATION_RENEW_REQUEST = 'mtls.dev/renew-request';

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function unb64(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** The PEM contents of an issued Secret. */
export interface SecretPems {
  certChainPem: string;
  keyPem: string;
  caPem: string;
}

export interface SecretFacts {
  serialNumber: string;
  notAfter: Date;
  spiffeId: string;
  caFingerprint: string;
  specHash: string;
  revision: number;
  renewRequest?: string;
}

/** Whether the identity is the Secret's controlling owner. */
export function isOwnedBy(secret: Secret, identity: MutualTLSIdentity): boolean {
  return (secret.metadata.ownerReferences ?? []).some(
    (r) => r.controller === true && r.uid === identity.metadata.uid,
  );
}

/**
 * The field manager an identity writes its Secret with: `mtls-operator/<identity uid>` (50
 * characters; the API server allows 128). Each identity its own manager, so a second identity's
 * first (non-forced) apply to a Secret the first one wrote conflicts on tls.crt/tls.key instead
 * of silently replacing them, and labels/annotations an identity stops applying are removed.
 */
export function fieldManagerFor(identity: MutualTLSIdentity): string {
  return `${FIELD_MANAGER}/${identity.metadata.uid ?? ''}`.slice(0, 128);
}

/** Whether the Secret was last written under the shared manager of earlier releases. */
export function writtenByEarlierRelease(secret: Secret): boolean {
  return secret.metadata.annotations?.[ANNOTATION_TEMPLATE_HASH] === undefined;
}

/** A short hash of the secretTemplate: written on the Secret, so a removed label is noticed. */
export function templateHash(spec: ResolvedSpec): string {
  const sorted = (m: Record<string, string>) => Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = JSON.stringify([sorted(spec.secretTemplate.labels), sorted(spec.secretTemplate.annotations)]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Extra outputs (keystores, combined PEM): their data entries and annotations. */
export interface SecretExtras {
  data: Record<string, string>;
  annotations: Record<string, string>;
}

const NO_EXTRAS: SecretExtras = { data: {}, annotations: {} };

/** Labels and annotations the Secret must carry: the template's, then ours on top. */
export function desiredMetadata(
  identity: MutualTLSIdentity,
  spec: ResolvedSpec,
  facts: SecretFacts,
  extras: SecretExtras = NO_EXTRAS,
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const annotations: Record<string, string> = {
    ...spec.secretTemplate.annotations,
    ...extras.annotations,
    [ANNOTATION_SERIAL]: facts.serialNumber,
    [ANNOTATION_NOT_AFTER]: facts.notAfter.toISOString(),
    [ANNOTATION_SPIFFE_ID]: facts.spiffeId,
    [ANNOTATION_CA_FINGERPRINT]: facts.caFingerprint,
    [ANNOTATION_SPEC_HASH]: facts.specHash,
    [ANNOTATION_REVISION]: String(facts.revision),
    [ANNOTATION_TEMPLATE_HASH]: templateHash(spec),
  };
  if (facts.renewRequest) annotations[ANNOTATION_RENEW_REQUEST] = facts.renewRequest;
  return {
    labels: {
      ...spec.secretTemplate.labels,
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_IDENTITY]: identityLabelValue(identity.metadata.name),
    },
    annotations,
  };
}

/** The whole Secret as one server-side apply: key, chain and bundle land together. */
export function buildSecret(
  identity: MutualTLSIdentity,
  spec: ResolvedSpec,
  pems: SecretPems,
  facts: SecretFacts,
  extras: SecretExtras = NO_EXTRAS,
): Secret {
  const { labels, annotations } = desiredMetadata(identity, spec, facts, extras);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: spec.secretName,
      namespace: identity.metadata.namespace!,
      labels,
      annotations,
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: KIND,
          name: identity.metadata.name,
          uid: identity.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    type: 'kubernetes.io/tls',
    data: {
      ...extras.data,
      [TLS_CRT]: b64(pems.certChainPem),
      [TLS_KEY]: b64(pems.keyPem),
      [CA_CRT]: b64(pems.caPem),
    },
  };
}

/** Whether every wanted label/annotation is present with its value. */
export function containsAll(
  have: Record<string, string> | undefined,
  want: Record<string, string>,
): boolean {
  return Object.entries(want).every(([k, v]) => have?.[k] === v);
}
