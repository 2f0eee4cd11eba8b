/**
 * The per-identity metric families (as cert-manager's per-certificate ones), kept as one small record per
 * identity and rendered at scrape time, in slices that give the event loop back (issue 11).
 *
 * With a prom-client Gauge per family, 10,000 identities were 40,000 series objects (about 10 MB of heap) and one
 * scrape rendered them in a single synchronous run: a 350 ms stall at 3,000 identities, so every Prometheus
 * scrape, and the probes and watches behind it, waited. Here a scrape gives the event loop back every SLICE_MS
 * (slices of 1,000 identities still took 107 ms each at 10,000 on a loaded machine).
 *
 *   mtls_identity_expiration_timestamp_seconds{namespace,name}
 *   mtls_identity_renewal_timestamp_seconds{namespace,name}
 *   mtls_identity_ready_status{namespace,name,condition="True"|"False"}
 */
import { Slicer } from '../slice.ts';

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
  async render(slicer = new Slicer()): Promise<string> {
    return (await this.renderChunks(slicer)).join('');
  }

  /**
   * The same text in pieces, in order: each family's lines are joined slice by slice, so neither the loop, nor a
   * final join, nor writing the response (src/ops/server.ts writes piece by piece) holds the event loop for long.
   */
  async renderChunks(slicer = new Slicer()): Promise<string[]> {
    const chunks: string[][] = FAMILIES.map((f) => [`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} gauge\n`]);
    let lines: string[][] = [[], [], []];
    const flush = (): void => {
      lines.forEach((l, i) => {
        if (l.length > 0) chunks[i]!.push(`${l.join('\n')}\n`);
      });
      lines = [[], [], []];
    };
    for (const e of [...this.entries.values()]) {
      const labels = `namespace="${labelValue(e.namespace)}",name="${labelValue(e.name)}"`;
      if (e.notAfter !== undefined) lines[0]!.push(`${FAMILIES[0].name}{${labels}} ${e.notAfter}`);
      if (e.renewal !== undefined) lines[1]!.push(`${FAMILIES[1].name}{${labels}} ${e.renewal}`);
      if (e.ready !== undefined) {
        lines[2]!.push(`${FAMILIES[2].name}{${labels},condition="True"} ${e.ready ? 1 : 0}`);
        lines[2]!.push(`${FAMILIES[2].name}{${labels},condition="False"} ${e.ready ? 0 : 1}`);
      }
      if (slicer.due()) {
        flush();
        await slicer.pause();
      }
    }
    flush();
    return chunks.filter((c) => c.length > 1).flat();
  }
}
