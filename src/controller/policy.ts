/** Wires the name policy (pure, in policy/) into the reconciler, from the operator's config. */
import type { ResolvedSpec } from '../api/spec.ts';
import type { MutualTLSIdentity } from '../api/types.ts';
import { ConfigError } from '../config.ts';
import { checkNames, parsePolicyConfig, type NamePolicyConfig } from '../policy/names.ts';

export function namePolicyCheck(
  config: { clusterDomain: string; namePolicyFile?: string },
  policyText: string | undefined,
): (identity: MutualTLSIdentity, spec: ResolvedSpec) => string | undefined {
  let policy: NamePolicyConfig = { clusterDomain: config.clusterDomain, allow: [] };
  if (policyText !== undefined) {
    try {
      policy = { ...parsePolicyConfig(policyText), clusterDomain: config.clusterDomain };
    } catch (err) {
      throw new ConfigError(`--name-policy-file (MTLS_NAME_POLICY_FILE) ${config.namePolicyFile}: ${(err as Error).message}`);
    }
  }
  return (identity, spec) =>
    checkNames(
      {
        namespace: identity.metadata.namespace!,
        dnsNames: spec.dnsNames,
        ipAddresses: spec.ipAddresses,
        ...(spec.commonName ? { commonName: spec.commonName } : {}),
      },
      policy,
    )?.message;
}
