/**
 * What kubectl-mtls needs from the API server, and nothing more. Implemented over client-node
 * (kube-client.ts) and in memory by the tests. Absent objects are `undefined`; every other
 * failure is a ClusterError (cluster/port.ts) whose message names the call.
 */
import type { ConfigMap, MutualTLSIdentity, Secret } from '../api/types.ts';

/** A core/v1 Event, the fields kubectl-mtls shows. */
export interface EventSummary {
  type: string;
  reason: string;
  message: string;
  count: number;
  /** RFC 3339; lastTimestamp, else eventTime, else firstTimestamp. */
  lastSeen: string;
}

export interface IdentityQuery {
  /** undefined: every namespace. */
  namespace?: string;
  /** A Kubernetes label selector; undefined: every identity. */
  labelSelector?: string;
}

export interface CliClient {
  getIdentity(namespace: string, name: string): Promise<MutualTLSIdentity | undefined>;
  listIdentities(query: IdentityQuery): Promise<MutualTLSIdentity[]>;
  /** Merge patch of metadata.annotations (null removes one). */
  patchIdentityAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void>;
  getSecret(namespace: string, name: string): Promise<Secret | undefined>;
  /** Throws ClusterError 409 when it exists. */
  createSecret(secret: Secret): Promise<Secret>;
  /** Creates the namespace (with these labels) unless it exists; true when it was created. */
  ensureNamespace(name: string, labels: Record<string, string>): Promise<boolean>;
  /** Merge patch of metadata.annotations (null removes one). */
  patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void>;
  /** core/v1 Events about one object (fieldSelector on involvedObject). */
  listEvents(namespace: string, about: { kind: string; name: string }): Promise<EventSummary[]>;
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Label selectors (equality-based and set-based existence), for in-memory clients.

type Requirement = (labels: Record<string, string>) => boolean;

/**
 * A predicate for a label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`,
 * comma-separated. Throws on anything else (as the API server would answer 400).
 */
export function labelSelectorMatcher(selector: string): Requirement {
  const parts: Requirement[] = [];
  const text = selector.trim();
  if (text === '') return () => true;
  for (const raw of text.match(/[^,(]+(\([^)]*\))?[^,]*/g) ?? []) {
    const part = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([-\w./]+)\s*(==|=|!=)\s*([-\w.]*)$/))) {
      const [, key, op, value] = m as [string, string, string, string];
      parts.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = part.match(/^([-\w./]+)\s+(in|notin)\s+\(([-\w.,\s]*)\)$/))) {
      const [, key, op, list] = m as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      parts.push(op === 'in' ? (l) => l[key] !== undefined && values.includes(l[key]!) : (l) => l[key] === undefined || !values.includes(l[key]!));
    } else if ((m = part.match(/^!\s*([-\w./]+)$/))) {
      const key = m[1]!;
      parts.push((l) => l[key] === undefined);
    } else if ((m = part.match(/^([-\w./]+)$/))) {
      const key = m[1]!;
      parts.push((l) => l[key] !== undefined);
    } else {
      throw new Error(`invalid label selector ${JSON.stringify(selector)}: cannot parse ${JSON.stringify(part)}`);
    }
  }
  return (labels) => parts.every((p) => p(labels));
}
