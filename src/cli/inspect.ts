/** kubectl mtls inspect secret <name>: decode and check an issued Secret (or any kubernetes.io/tls Secret). */
import { CliError, fields, onePositional, parse, usageError, type CommandContext, type CommandResult } from './args.ts';
import { analyzeSecret, sanText, yesNo, type CertSummary, type SecretAnalysis } from './analyze.ts';

export const INSPECT_HELP = `Usage: kubectl mtls inspect secret <name> [-n namespace] [-o json|yaml]

Decodes a TLS Secret: the chain in tls.crt (subject, issuer, serial, validity, SANs, SHA-256
fingerprints), the key in tls.key (algorithm, size, whether it matches the certificate) and
whether the chain verifies against the roots in ca.crt. Exits 1 when the Secret has a problem.`;

function certBlock(c: CertSummary, title: string): string {
  return `${title}\n${fields([
    ['Subject', c.subject || '(empty)'],
    ['Issuer', c.issuer],
    ['Serial', c.serial],
    ['Not before', c.notBefore],
    ['Not after', c.notAfter],
    ['SANs', sanText(c.sans)],
    ['CA', c.isCA ? 'yes' : undefined],
    ['SHA-256', c.sha256],
  ], '    ')}`;
}

export function analysisText(a: SecretAnalysis): string {
  const lines = [`Secret ${a.namespace}/${a.name} (${a.type || 'no type'})`];
  lines.push(fields([
    ['Keys', a.keys.present.join(', ') || '(none)'],
    ['Missing', a.keys.missing.join(', ') || undefined],
    ['Key', a.key ? `${a.key.algorithm}${a.key.size ? ` ${a.key.size}` : ''}${a.key.encoding ? ` (${a.key.encoding})` : ''}` : undefined],
    ['Key matches cert', yesNo(a.keyMatchesCert)],
    ['Chain verifies', yesNo(a.chainVerifies)],
    ['Valid now', yesNo(a.validNow)],
  ]));
  a.chain.forEach((c, i) => lines.push(certBlock(c, i === 0 ? '  Leaf (tls.crt 1)' : `  Chain (tls.crt ${i + 1})`)));
  a.bundle.forEach((c, i) => lines.push(certBlock(c, `  Root (ca.crt ${i + 1})`)));
  lines.push(a.problems.length ? `  Problems:\n${a.problems.map((p) => `    - ${p}`).join('\n')}` : '  Problems: none');
  return lines.join('\n');
}

export async function inspectCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parse(args, {});
  if (values.help) return { data: undefined, text: INSPECT_HELP };
  const [kind, ...rest] = positionals;
  if (kind === undefined) throw usageError('inspect needs a kind: inspect secret <name>');
  const lower = kind.toLowerCase();
  const slash = lower.indexOf('/');
  const type = slash < 0 ? lower : lower.slice(0, slash);
  if (type !== 'secret' && type !== 'secrets') throw usageError(`inspect ${kind}: only a Secret can be inspected (inspect secret <name>)`);
  const name = onePositional(slash < 0 ? rest : [kind.slice(slash + 1), ...rest], 'Secret name');
  const { client, namespace: defaultNs } = ctx.cluster();
  const namespace = values.namespace ?? defaultNs;
  const secret = await client.getSecret(namespace, name);
  if (!secret) throw new CliError(`Secret ${namespace}/${name} not found`);
  const analysis = analyzeSecret(secret, ctx.now());
  return { data: analysis, text: analysisText(analysis), exitCode: analysis.problems.length ? 1 : 0 };
}
