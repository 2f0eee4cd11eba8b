/** kubectl mtls status <identity>: conditions, certificate, recent Events and Secret health of one identity. */
import { defaultSecretName } from '../api/spec.ts';
import { KIND, type Condition, type MutualTLSIdentity } from '../api/types.ts';
import { CliError, fields, humanDuration, onePositional, parse, table, type CommandContext, type CommandResult } from './args.ts';
import { analyzeSecret, sanText, yesNo, type SecretAnalysis } from './analyze.ts';
import type { EventSummary } from './client.ts';

export const STATUS_HELP = `Usage: kubectl mtls status <identity> [-n namespace] [-o json|yaml]

Shows a MutualTLSIdentity: its conditions, the certificate in its Secret (SANs, SPIFFE ID,
validity, renewal time, serial, issuer), its recent Events and the Secret's health (keys present,
key matches the certificate, chain verifies against ca.crt). Exits 1 when it is not Ready.`;

const RECENT_EVENTS = 10;

export interface StatusReport {
  namespace: string;
  name: string;
  ready: boolean;
  conditions: Condition[];
  certificate?: {
    spiffeId?: string;
    sans: string[];
    serial: string;
    issuer: string;
    notBefore: string;
    notAfter: string;
    renewalTime?: string;
  };
  secret: { name: string; exists: boolean; health?: SecretAnalysis };
  events: EventSummary[];
  /** Why Events could not be listed (the rest of the report stands without them). */
  eventsError?: string;
}

function conditionRows(conditions: Condition[], now: Date): string {
  if (!conditions.length) return '  (none yet: the operator has not reconciled this identity)';
  return table(['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'], conditions.map((c) => [
    c.type, c.status, c.reason, c.lastTransitionTime ? humanDuration(Date.parse(c.lastTransitionTime) - now.getTime()) : '', c.message,
  ])).replace(/^/gm, '  ');
}

function reportText(r: StatusReport, now: Date): string {
  const at = (iso: string | undefined) => (iso ? `${iso} (${humanDuration(Date.parse(iso) - now.getTime())})` : undefined);
  const out = [`MutualTLSIdentity ${r.namespace}/${r.name}: ${r.ready ? 'Ready' : 'NOT Ready'}`, 'Conditions:', conditionRows(r.conditions, now)];
  const c = r.certificate;
  out.push('Certificate:');
  out.push(c ? fields([
    ['SPIFFE ID', c.spiffeId ?? '(none)'],
    ['SANs', c.sans.join(', ')],
    ['Serial', c.serial],
    ['Issuer', c.issuer],
    ['Not before', c.notBefore],
    ['Not after', at(c.notAfter)],
    ['Renewal', at(c.renewalTime)],
  ]) : '  (none issued)');
  out.push(`Secret ${r.secret.name}:`);
  const h = r.secret.health;
  if (!r.secret.exists) out.push('  (absent)');
  else if (h) {
    out.push(fields([
      ['Keys', h.keys.present.join(', ') || '(none)'],
      ['Missing', h.keys.missing.join(', ') || undefined],
      ['Key matches cert', yesNo(h.keyMatchesCert)],
      ['Chain verifies', yesNo(h.chainVerifies)],
      ['Problems', h.problems.join('; ') || 'none'],
    ]));
  }
  out.push('Events:');
  out.push(r.eventsError !== undefined ? `  (cannot list Events: ${r.eventsError}; check with: kubectl auth can-i list events -n ${r.namespace})` : r.events.length
    ? table(['LAST SEEN', 'TYPE', 'REASON', 'COUNT', 'MESSAGE'], r.events.map((e) => [e.lastSeen, e.type, e.reason, String(e.count), e.message])).replace(/^/gm, '  ')
    : '  (none)');
  return out.join('\n');
}

export function secretNameOf(identity: MutualTLSIdentity): string {
  return identity.status?.secretName ?? identity.spec?.secretName ?? defaultSecretName(identity.metadata.name);
}

export async function statusCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parse(args, {});
  if (values.help) return { data: undefined, text: STATUS_HELP };
  const name = onePositional(positionals, 'identity name');
  const { client, namespace: defaultNs } = ctx.cluster();
  const namespace = values.namespace ?? defaultNs;
  const identity = await client.getIdentity(namespace, name);
  if (!identity) throw new CliError(`MutualTLSIdentity ${namespace}/${name} not found`);
  const now = ctx.now();
  const secretName = secretNameOf(identity);
  const [secret, events] = await Promise.all([
    client.getSecret(namespace, secretName),
    client.listEvents(namespace, { kind: KIND, name }).then(
      (list) => ({ list, error: undefined }),
      (err: unknown) => ({ list: [] as EventSummary[], error: err instanceof Error ? err.message.split('\n')[0]! : String(err) }),
    ),
  ]);
  const conditions = identity.status?.conditions ?? [];
  const health = secret ? analyzeSecret(secret, now) : undefined;
  const leaf = health?.chain[0];
  const report: StatusReport = {
    namespace,
    name,
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    conditions,
    ...(leaf ? {
      certificate: {
        ...(leaf.spiffeId ? { spiffeId: leaf.spiffeId } : {}),
        sans: sanText(leaf.sans).split(', ').filter(Boolean),
        serial: leaf.serial,
        issuer: leaf.issuer,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
        ...(identity.status?.renewalTime ? { renewalTime: identity.status.renewalTime } : {}),
      },
    } : {}),
    secret: { name: secretName, exists: secret !== undefined, ...(health ? { health } : {}) },
    ...(events.error !== undefined ? { eventsError: events.error } : {}),
    events: [...events.list].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen)).slice(0, RECENT_EVENTS),
  };
  return { data: report, text: reportText(report, now), exitCode: report.ready ? 0 : 1 };
}
