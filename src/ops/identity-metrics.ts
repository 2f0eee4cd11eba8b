/**
 * The per-identity metric families (as cert-manager's per-certificate ones), kept as one small record per
 * identity and rendered at scrape time, in slices that give the event loop back (issue 11).
 *
 * With a prom-client Gauge per family, 10,000 identities were 40,000 series objects (about 10 MB of heap) and one
 * scrape rendered them in a single synchronous run: a 350 ms stall at 3,000 identities, so every Prometheus
 * scrape, and the probes and watches behind it, waited. Here a scrape yields every SLICE identities.
 *
 *   mtls_identity_expiration_timestamp_seconds{namespace,name}
 *   mtls_identity_renewal_timestamp_seconds{namespace,name}
 *   mtls_identity_ready_status{namespace,name,condition="True"|"False"}
 */
import { setImmediate as yieldNow } from 'node:timers/promises';

interface Entry {
  namespace: string;
  name: string;
  notAfter?: number;
  renewal?: number;
  ready?: boolean;
}

const FAMILIES = [
  { name: 'mtls_identity_expiration_timestamp_seconds', help: 'The date after which the identity\'s certificate expires, in seconds since the epoch.' },
  { name: 'mtls_identity_renewal_timestamp_seconds', help: 'The time the identity\'s certificate will be renewed, in seconds since the epoch.' },
  { name: 'mtls_identity_ready_status', help: 'The Ready condition of the identity: 1 for its current status (True or False), 0 for the other.' },
] as const;

/** Identities rendered between two yields to the event loop. */
export const SLICE = 1_000;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class IdentityMetrics {
  private readonly entries = new Map<string, Entry>();

  private entry(namespace: string, name: string): Entry {
    const key = `${namespace}/${name}`;
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { namespace, name }));
    return e;
  }

  has(namespace: string, name: string): boolean {
    return this.entries.get(`${namespace}/${name}`)?.ready !== undefined;
  }

  setReady(namespace: string, name: string, ready: boolean): void {
    this.entry(namespace, name).ready = ready;
  }

  setTimes(namespace: string, name: string, notAfter: Date | undefined, renewal: Date | undefined): void {
    if (!notAfter && !renewal) return;
    const e = this.entry(namespace, name);
    if (notAfter) e.notAfter = notAfter.getTime() / 1000;
    if (renewal) e.renewal = renewal.getTime() / 1000;
  }

  remove(namespace: string, name: string): void {
    this.entries.delete(`${namespace}/${name}`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The three families in the Prometheus text format (empty when there is no identity). */
  async render(slice = SLICE): Promise<string> {
    const out: string[][] = FAMILIES.map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} gauge`]);
    const [expiration, renewal, ready] = out as [string[], string[], string[]];
    let n = 0;
    for (const e of [...this.entries.values()]) {
      const labels = `namespace="${labelValue(e.namespace)}",name="${labelValue(e.name)}"`;
      if (e.notAfter !== undefined) expiration.push(`${FAMILIES[0].name}{${labels}} ${e.notAfter}`);
      if (e.renewal !== undefined) renewal.push(`${FAMILIES[1].name}{${labels}} ${e.renewal}`);
      if (e.ready !== undefined) {
        ready.push(`${FAMILIES[2].name}{${labels},condition="True"} ${e.ready ? 1 : 0}`);
        ready.push(`${FAMILIES[2].name}{${labels},condition="False"} ${e.ready ? 0 : 1}`);
      }
      if (++n % slice === 0) await yieldNow();
    }
    return out.filter((lines) => lines.length > 2).map((lines) => `${lines.join('\n')}\n`).join('');
  }
}
