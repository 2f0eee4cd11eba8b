/**
 * kubectl mtls issue --local: issues an identity to files from a local CA, with the operator's
 * engine (resolveSpec + issueLeaf): the same SPIFFE ID, SANs, usages and key rules, no cluster.
 */
import { join } from 'node:path';
import { InvalidSpecError, resolveSpec } from '../api/spec.ts';
import { API_VERSION, CA_CRT, KIND, TLS_CRT, TLS_KEY, type KeyAlgorithm, type MutualTLSIdentity } from '../api/types.ts';
import { CAError, issueLeaf, leafRequestFor, loadSigningCA } from '../pki/index.ts';
import { CliError, fields, parse, usageError, type CommandContext, type CommandResult } from './args.ts';

export const ISSUE_HELP = `Usage: kubectl mtls issue --local --ca-cert FILE --ca-key FILE --name NAME [-n namespace]
                          [--sa SERVICE_ACCOUNT] [--dns NAME ...] [--ip ADDRESS ...] [--common-name CN]
                          [--duration 24h] [--key-algorithm ECDSA|RSA|Ed25519] [--key-size N]
                          [--trust-domain cluster.local] [--ca-bundle FILE] [--out DIR]

Issues a certificate for an identity from a local CA, for development without a cluster, with
the operator's own rules: the SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/sa/<sa>, DNS/IP
SANs, usages and key type as a MutualTLSIdentity with the same spec would get. Writes tls.crt
(leaf + chain), tls.key (mode 0600) and ca.crt into --out (default: the current directory).`;

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
    out: { type: 'string' },
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
  let spec;
  try {
    spec = resolveSpec(identity, { trustDomain: values['trust-domain'] ?? 'cluster.local' });
  } catch (err) {
    if (err instanceof InvalidSpecError) throw new CliError(`invalid identity: ${err.message}`);
    throw new CliError((err as Error).message);
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
  ctx.mkdir(dir);
  const files = { [TLS_CRT]: join(dir, TLS_CRT), [TLS_KEY]: join(dir, TLS_KEY), [CA_CRT]: join(dir, CA_CRT) };
  ctx.writeFile(files[TLS_KEY]!, issued.keyPem, 0o600);
  ctx.writeFile(files[TLS_CRT]!, issued.certChainPem, 0o644);
  ctx.writeFile(files[CA_CRT]!, issued.caPem, 0o644);
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
