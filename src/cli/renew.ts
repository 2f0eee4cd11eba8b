/**
 * kubectl mtls renew: asks the operator to re-issue now by setting the identity annotation
 * mtls.dev/renew-request to the current time (merge patch). The operator re-issues once per new
 * value. Secrets are never deleted (workloads keep a valid certificate throughout).
 */
import type { MutualTLSIdentity } from '../api/types.ts';
import { ANNOTATION_RENEW_REQUEST } from '../controller/secret.ts';
import { CliError, parse, usageError, type CommandContext, type CommandResult } from './args.ts';

export const RENEW_HELP = `Usage: kubectl mtls renew <identity> [-n namespace]
       kubectl mtls renew -l <selector> [-n namespace | -A]
       kubectl mtls renew --all [-n namespace | -A]

Forces re-issuance: sets the annotation ${ANNOTATION_RENEW_REQUEST}=<now, RFC 3339> on each
selected MutualTLSIdentity; the operator issues a new certificate (and key, unless
rotationPolicy is Never) once per request. Nothing is deleted.`;

export async function renewCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parse(args, {
    selector: { type: 'string', short: 'l' },
    all: { type: 'boolean' },
    'all-namespaces': { type: 'boolean', short: 'A' },
  });
  if (values.help) return { data: undefined, text: RENEW_HELP };
  if (positionals.length > 1) throw usageError(`renew takes one identity name, got ${positionals.length}`);
  const name = positionals[0];
  const modes = [name !== undefined, values.selector !== undefined, values.all === true].filter(Boolean).length;
  if (modes !== 1) throw usageError('renew needs exactly one of: an identity name, -l <selector>, --all');
  if (values['all-namespaces'] && name !== undefined) throw usageError('-A goes with -l or --all, not with an identity name');
  if (values['all-namespaces'] && values.namespace !== undefined) throw usageError('-A and -n exclude each other');

  const { client, namespace: defaultNs } = ctx.cluster();
  const namespace = values['all-namespaces'] ? undefined : (values.namespace ?? defaultNs);
  let targets: MutualTLSIdentity[];
  if (name !== undefined) {
    const identity = await client.getIdentity(namespace!, name);
    if (!identity) throw new CliError(`MutualTLSIdentity ${namespace}/${name} not found`);
    targets = [identity];
  } else {
    targets = await client.listIdentities({ ...(namespace ? { namespace } : {}), ...(values.selector ? { labelSelector: values.selector } : {}) });
  }
  const requestedAt = ctx.now().toISOString();
  const renewed: { namespace: string; name: string }[] = [];
  for (const t of targets) {
    const ns = t.metadata.namespace ?? namespace ?? '';
    await client.patchIdentityAnnotations(ns, t.metadata.name, { [ANNOTATION_RENEW_REQUEST]: requestedAt });
    renewed.push({ namespace: ns, name: t.metadata.name });
  }
  const where = namespace ? `namespace ${namespace}` : 'any namespace';
  const text = renewed.length
    ? renewed.map((r) => `mutualtlsidentity ${r.namespace}/${r.name}: renewal requested`).join('\n')
    : `no MutualTLSIdentity matched in ${where}`;
  return { data: { requestedAt, annotation: ANNOTATION_RENEW_REQUEST, renewed }, text };
}
