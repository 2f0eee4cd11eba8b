/**
 * The per-identity metric families (as cert-manager's per-certificate ones), kept as one small record per
 * identity and rendered at scrape time, in slices that give the event loop back (issue 11).
 *
 * With a prom-client Gauge per family, 10,000 identities were 40,000 series objects (about 10 MB of heap) and one
 * scrape rendered them in a single synchronous run: a 350 ms stall at 3,000 identities, so every Prometheus
 * scrape, and the probes and watches behind it, waited. Here a scrape gives the event loop back every SLICE_MS
 * (slices of 1,000 identities still took 107 ms each at 10,000 on a loaded machine), and is made a chunk at a time
 * as it is written (`chunks()`).
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

const READY = 'mtls_identity_ready_status';

/** Each family's name, help, and its value for an identity (none: no sample; for Ready, the "True" series' value). */
const FAMILIES: readonly { name: string; help: string; value(e: Entry): number | undefined }[] = [
  { name: 'mtls_identity_expiration_timestamp_seconds', help: 'The date after which the identity\'s certificate expires, in seconds since the epoch.', value: (e) => e.notAfter },
  { name: 'mtls_identity_renewal_timestamp_seconds', help: 'The time the identity\'s certificate will be renewed, in seconds since the epoch.', value: (e) => e.renewal },
  { name: READY, help: 'The Ready condition of the identity: 1 for its current status (True or False), 0 for the other.', value: (e) => (e.ready === undefined ? undefined : e.ready ? 1 : 0) },
];

/** Characters of exposition text in one chunk of a scrape (about bytes: the text is ASCII but for label values). */
export const CHUNK_CHARS = 64 * 1024;

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(v: string): string {
  if (!/[\\"\n]/.test(v)) return v;
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
    let text = '';
    for await (const chunk of this.chunks(slicer)) text += chunk;
    return text;
  }

  /**
   * The same text, made as it is read: one family at a time over one snapshot of the identities, handed out in
   * chunks of about `size` characters. A reader that writes each chunk before asking for the next (the ops server,
   * under the socket's backpressure) holds one chunk of the exposition at a time, never the whole of it: at 10,000
   * identities the whole was 3.5 MB of text, 40,000 line strings and their joins, alive across the scrape's slices,
   * so each scrape pushed 10-15 MB into the old generation (run Q's --trace-gc, issue 11). The loop is still given
   * back every slice.
   */
  async *chunks(slicer = new Slicer(), size = CHUNK_CHARS): AsyncGenerator<string, void, undefined> {
    const entries = [...this.entries.values()];
    for (const family of FAMILIES) {
      let chunk = '';
      let any = false;
      for (const e of entries) {
        const value = family.value(e);
        if (value === undefined) continue;
        if (!any) {
          any = true;
          chunk = `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} gauge\n`;
        }
        const labels = `namespace="${labelValue(e.namespace)}",name="${labelValue(e.name)}"`;
        if (family.name === READY) {
          chunk += `${READY}{${labels},condition="True"} ${value}\n${READY}{${labels},condition="False"} ${1 - value}\n`;
        } else {
          chunk += `${family.name}{${labels}} ${value}\n`;
        }
        if (chunk.length >= size) {
          yield chunk;
          chunk = '';
        }
        if (slicer.due()) await slicer.pause();
      }
      if (chunk.length > 0) yield chunk;
    }
  }
}

