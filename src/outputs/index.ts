/** Extra output formats of an issued Secret: PKCS#12 keystores and a combined PEM. */
export {
  buildKeystores, checkPassword, combinedPem, DEFAULT_KEYSTORE_ALIAS, KEYSTORE_PASSWORD_MAX_LENGTH, KeystoreError, PKCS12_ITERATIONS, PKCS12_PROFILES,
  truststoreAliases, type Keystores, type KeystoreInput, type Pkcs12Profile,
} from './pkcs12.ts';
export {
  DEFAULT_KEYSTORE_PROFILE, KEYSTORE_P12, KEYSTORE_PROFILES, OUTPUT_FORMATS, PROFILE_OF, resolveKeystoreSpec, TLS_COMBINED_PEM,
  TRUSTSTORE_P12, type KeystoreProfileName, type OutputFormat, type OutputsSpec, type Pkcs12Output, type SecretKeyRef,
} from './spec.ts';
export {
  ANNOTATION_KEYSTORE_PASSWORD_FOR, ANNOTATION_OUTPUTS_HASH, buildOutputData, optedIn, buildOutputDataOffThread, keystorePassword, REASON_KEYSTORE_PASSWORD_INVALID, REASON_KEYSTORE_PASSWORD_MISSING, usablePassword, type OutputInput,
  type OutputPems, type OutputResult,
} from './secret-data.ts';
