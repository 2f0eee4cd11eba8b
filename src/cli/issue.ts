/**
 * kubectl mtls issue --local: issues an identity to files from a local CA, with the operator's
 * engine (resolveSpec + issueLeaf): the same SPIFFE ID, SANs, usages and key rules, no cluster.
 */
import { join } from 'node:path';
import { InvalidSpecError, resolveSpec } from '../api/spec.ts';
import { API_VERSION, CA_CRT, KIND, TLS_CRT, TLS_KEY, type KeyAlgorithm, type MutualTLSIdentity } from '../api/types.ts';
import { ConfigError } from '../config.ts';
import { namePolicyCheck } from '../controller/policy.ts';
import { CAError, issueLeaf, leafRequestFor, loadSigningCA } from '../pki/index.ts';
import { CliError, fields, parse, usageError, type CommandContext, type CommandResult } from './args.ts';

export const ISSUE_HELP = `Usage: kubectl mtls issue --local --ca-cert FILE --ca-key FILE --name NAME [-n namespace]
                          [--sa SERVICE_ACCOUNT] [--dns NAME ...] [--ip ADDRESS ...] [--common-name CN]
                          [--duration 24h] [--key-algorithm ECDSA|RSA|Ed25519] [--key-size N]
                          [--trust-domain cluster.local] [--cluster-domain cluster.local]
                          [--name-policy-file FILE] [--ca-bundle FILE] [--out DIR] [--force]

Issues a certificate for an identity from a local CA, for development without a cluster, with
the operator's own rules: the SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<sa>, DNS/IP
SANs, usages and key type as a MutualTLSIdentity with the same spec would get, and the same name
policy: DNS names must belong to the namespace (<svc>, <svc>.<ns>, <svc>.<ns>.svc[.<cluster-domain>])
and IP addresses need an allow-list, unless --name-policy-file (the operator's file format) allows
them. Writes tls.crt (leaf + chain), tls.key (mode 0600) and ca.crt into --out (default: the
current directory), each created new without following symbolic links; existing files are
refused (nothing is written) unless --force replaces them.`;

function read(ctx: CommandContext, path: string, what: string): string {
  try {
    return ctx.readFile(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function issueCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parse(args, {
    local: { type: 'boolean' },
    'ca-cert': { type: 'string' },
    'ca-key': { type: 'string' },
    'ca-bundle': { type: 'string' },
    name: { type: 'string' },
    sa: { type: 'string' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    'common-name': { type: 'string' },
    duration: { type: 'string' },
    'key-algorithm': { type: 'string' },
    'key-size': { type: 'string' },
    'trust-domain': { type: 'string' },
    'cluster-domain': { type: 'string' },
    'name-policy-file': { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (values.help) return { data: undefined, text: ISSUE_HELP };
  if (positionals.length) throw usageError(`unexpected argument "${positionals[0]}"`);
  if (!values.local) throw usageError('issue needs --local (in a cluster, create a MutualTLSIdentity and the operator issues it)');
  for (const flag of ['ca-cert', 'ca-key', 'name'] as const) if (!values[flag]) throw usageError(`issue --local needs --${flag}`);
  const namespace = values.namespace ?? 'default';
  const keySize = values['key-size'] === undefined ? undefined : Number(values['key-size']);
  if (keySize !== undefined && !Number.isInteger(keySize)) throw usageError(`--key-size ${values['key-size']}: a number of bits`);
  const identity: MutualTLSIdentity = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: values.name!, namespace },
    spec: {
      ...(values.sa ? { serviceAccountName: values.sa } : {}),
      ...(values.dns ? { dnsNames: values.dns } : {}),
      ...(values.ip ? { ipAddresses: values.ip } : {}),
      ...(values['common-name'] ? { commonName: values['common-name'] } : {}),
      ...(values.duration ? { duration: values.duration } : {}),
      ...(values['key-algorithm'] || keySize ? {
        privateKey: {
          ...(values['key-algorithm'] ? { algorithm: values['key-algorithm'] as KeyAlgorithm } : {}),
          ...(keySize ? { size: keySize } : {}),
        },
      } : {}),
    },
  };
  const trustDomain = values['trust-domain'] ?? 'cluster.local';
  const clusterDomain = values['cluster-domain'] ?? 'cluster.local';
  let spec;
  try {
    spec = resolveSpec(identity, { trustDomain });
  } catch (err) {
    if (err instanceof InvalidSpecError) throw new CliError(`invalid identity: ${err.message}`);
    throw new CliError((err as Error).message);
  }
  // The operator's own check (src/controller/policy.ts), with the operator's policy file format.
  const policyFile = values['name-policy-file'];
  let check;
  try {
    check = namePolicyCheck({ clusterDomain, trustDomain, ...(policyFile !== undefined ? { namePolicyFile: policyFile } : {}) },
      policyFile !== undefined ? read(ctx, policyFile, 'name policy file') : undefined);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message.replace('(MTLS_NAME_POLICY_FILE) ', ''));
    throw err;
  }
  const refused = check(identity, spec);
  if (refused !== undefined) {
    throw new CliError(`refused by the name policy, as the operator would refuse it: ${refused}${policyFile === undefined ? ' (an allow-list in the operator\'s format can be given with --name-policy-file)' : ''}`);
  }
  const now = ctx.now();
  const bundle = values['ca-bundle'] !== undefined ? read(ctx, values['ca-bundle'], 'CA bundle') : undefined;
  let ca;
  try {
    ca = await loadSigningCA({ certPem: read(ctx, values['ca-cert']!, 'CA certificate'), keyPem: read(ctx, values['ca-key']!, 'CA key'), ...(bundle !== undefined ? { bundlePem: bundle } : {}) }, now);
  } catch (err) {
    if (err instanceof CAError) throw new CliError(`the CA is not usable: ${err.message}`);
    throw err;
  }
  const issued = await issueLeaf(ca, leafRequestFor(spec, now));
  const dir = values.out ?? '.';
  const files = { [TLS_CRT]: join(dir, TLS_CRT), [TLS_KEY]: join(dir, TLS_KEY), [CA_CRT]: join(dir, CA_CRT) };
  ctx.writeFiles(dir, [
    { path: files[TLS_KEY]!, content: issued.keyPem, mode: 0o600 },
    { path: files[TLS_CRT]!, content: issued.certChainPem, mode: 0o644 },
    { path: files[CA_CRT]!, content: issued.caPem, mode: 0o644 },
  ], values.force === true);
  const data = {
    spiffeId: spec.spiffeId, dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, serial: issued.serialNumber,
    notBefore: issued.notBefore.toISOString(), notAfter: issued.notAfter.toISOString(), clamped: issued.clamped, files,
  };
  const text = `Issued ${spec.spiffeId}\n${fields([
    ['Serial', issued.serialNumber],
    ['Not after', `${data.notAfter}${issued.clamped ? ' (cut to the CA\'s notAfter)' : ''}`],
    ['DNS', spec.dnsNames.join(', ') || undefined],
    ['IP', spec.ipAddresses.join(', ') || undefined],
    ['Files', Object.values(files).join(', ')],
  ])}`;
  return { data, text };
}
