/** The PKI engine: CA loading and generation, key generation, leaf issuance, inspection. */
export * from './types.ts';
export { loadSigningCA } from './ca.ts';
export { generateIntermediateCA, generateRootCA } from './generate.ts';
export { generateKey, keyParamsOf } from './keys.ts';
export { DEFAULT_BACKDATE_MS, issueLeaf, issueLeafForKey, type KeyedLeafRequest } from './leaf.ts';
export { requestedKey, supportedPodKey, SUPPORTED_POD_KEYS, type RequestedKey } from './pod-request.ts';
export { cannotHaveSigned, inspectIssued, inspectIssuedDeferred, issuedInspection, leafFactsOf, leafSignedBy } from './inspect.ts';
export { fingerprintOf, isIssuedBy, isSelfSigned, normalizeIp, sanKey, sanOf, type SubjectAltNames } from './certs.ts';
export { bundleFingerprints, mergeBundles } from './bundle.ts';
export { certificatesWithFingerprints, keptRoots, latestExpiry } from './roots.ts';
export { leafRequestFor, type LeafSpec } from './request.ts';
