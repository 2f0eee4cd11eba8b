/** Wires the name policy (pure, in policy/) into the reconciler, from the operator's config. */
import type { ResolvedSpec } from '../api/spec.ts';
import type { MutualTLSIdentity } from '../api/types.ts';
import { ConfigError } from '../config.ts';
import { checkNames, DEFAULT_CLUSTER_DOMAIN, parsePolicyConfig, type NamePolicyConfig } from '../policy/names.ts';

/**
 * The check the reconciler runs before any key is generated. The cluster domain and trust
 * domain are the operator's flags; the policy file supplies the allow-list.
 */
export function namePolicyCheck(
  config: { clusterDomain: string; trustDomain: string; namePolicyFile?: string },
  policyText: string | undefined,
): (identity: MutualTLSIdentity, spec: ResolvedSpec) => string | undefined {
  let allow: NamePolicyConfig['allow'] = [];
  if (policyText !== undefined) {
    const bad = (why: string) => new ConfigError(`--name-policy-file (MTLS_NAME_POLICY_FILE) ${config.namePolicyFile}: ${why}`);
    let parsed: NamePolicyConfig;
    try {
      parsed = parsePolicyConfig(policyText);
    } catch (err) {
      throw bad((err as Error).message);
    }
    if (parsed.clusterDomain !== DEFAULT_CLUSTER_DOMAIN && parsed.clusterDomain !== config.clusterDomain) {
      throw bad(`clusterDomain "${parsed.clusterDomain}" differs from --cluster-domain "${config.clusterDomain}": set the same value in both, or only the flag`);
    }
    allow = parsed.allow;
  }
  const policy: NamePolicyConfig = { clusterDomain: config.clusterDomain, trustDomain: config.trustDomain, allow };
  return (identity, spec) =>
    checkNames(
      {
        namespace: identity.metadata.namespace!,
        dnsNames: spec.dnsNames,
        ipAddresses: spec.ipAddresses,
        uris: [spec.spiffeId],
        ...(spec.commonName ? { commonName: spec.commonName } : {}),
      },
      policy,
    )?.message;
}
