/**
 * What bench/real.ts reads: the apiserver's own request counters, CPU seconds and memory of a process from /proc,
 * the operator's /metrics, the load average, and a watch of identities that knows which are Ready with which serial.
 */
import { readFileSync } from 'node:fs';
import { Watch, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../src/api/types.ts';

/** Verbs of apiserver_request_total that change something (APPLY: server-side apply). */
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/** apiserver_request_total summed by "resource[/subresource] VERB" for write verbs. */
export type WriteCounts = Map<string, number>;

export function parseWrites(metrics: string): WriteCounts {
  const out: WriteCounts = new Map();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? '')) continue;
    const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.verb}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** after - before, without zero entries. */
export function diffWrites(after: WriteCounts, before: WriteCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

export const sumWrites = (w: Record<string, number>, keep: (key: string) => boolean = () => true): number =>
  Object.entries(w).filter(([k]) => keep(k)).reduce((a, [, v]) => a + v, 0);

const TICKS = 100; // CLK_TCK on Linux

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** VmHWM and VmRSS in MB. */
export function memoryMB(pid: number): { peak: number; rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  // RssFile: pages of mapped files (the node binary's code, ICU data); RssAnon: the heaps, V8's and malloc's.
  return { peak: kb('VmHWM'), rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

export const loadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/** Samples of one metric-text value. */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (labels && !line.includes(labels)) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** prom-client's nodejs_heap_space_size_used_bytes by V8 space, in MB, largest first. */
export function heapSpacesMB(text: string): Record<string, number> {
  const out: Array<[string, number]> = [];
  for (const m of text.matchAll(/^nodejs_heap_space_size_used_bytes\{[^}]*space="([^"]+)"[^}]*\} (\S+)$/gm)) {
    out.push([m[1]!, Number(m[2]) / 1024 / 1024]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

/**
 * The operator's /metrics sampled every `everyMs`: peak heap used and the worst event-loop delay p99 of any
 * interval (prom-client resets its event-loop histogram at each scrape, so each sample is the p99 of one interval).
 */
export class OperatorSampler {
  heapUsedMB = 0;
  heapTotalMB = 0;
  /** Peak of nodejs_external_memory_bytes: Buffers and other memory V8 objects hold outside the V8 heap. */
  externalMB = 0;
  /** The V8 spaces' use at the scrape with the highest heap use. */
  spacesAtPeakMB: Record<string, number> = {};
  loopP99Ms = 0;
  loopP99s: number[] = [];
  scrapes = 0;
  scrapeMs = 0;
  private timer?: NodeJS.Timeout;
  private readonly url: string;
  private readonly everyMs: number;
  constructor(port: number, everyMs = 3000) {
    this.url = `http://127.0.0.1:${port}/metrics`;
    this.everyMs = everyMs;
  }
  async scrape(): Promise<string> {
    const t = performance.now();
    const text = await (await fetch(this.url)).text();
    this.scrapeMs = Math.max(this.scrapeMs, performance.now() - t);
    this.scrapes++;
    const mb = (v: number | undefined) => (v ?? 0) / 1024 / 1024;
    const used = mb(metricValue(text, 'nodejs_heap_size_used_bytes'));
    if (used > this.heapUsedMB) this.spacesAtPeakMB = heapSpacesMB(text);
    this.heapUsedMB = Math.max(this.heapUsedMB, used);
    this.externalMB = Math.max(this.externalMB, mb(metricValue(text, 'nodejs_external_memory_bytes')));
    this.heapTotalMB = Math.max(this.heapTotalMB, mb(metricValue(text, 'nodejs_heap_size_total_bytes')));
    const p99 = (metricValue(text, 'nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000;
    this.loopP99s.push(p99);
    this.loopP99Ms = Math.max(this.loopP99Ms, p99);
    return text;
  }
  start(): void {
    const tick = () => {
      this.scrape().catch(() => undefined).finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    this.timer = setTimeout(tick, this.everyMs);
  }
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface IdentityView {
  ready: boolean;
  serial: string | undefined;
}

interface RawIdentity {
  metadata: { namespace: string; name: string; resourceVersion?: string };
  status?: { serialNumber?: string; conditions?: Array<{ type: string; status: string }> };
}

/** Every identity's Ready condition and serial, from one list and one watch (bookmarks on). */
export class IdentityTracker {
  readonly view = new Map<string, IdentityView>();
  private abort?: AbortController;
  private waiters: Array<() => void> = [];
  private readonly kc: KubeConfig;
  private readonly custom: CustomObjectsApi;
  constructor(kc: KubeConfig, custom: CustomObjectsApi) {
    this.kc = kc;
    this.custom = custom;
  }

  private apply(o: RawIdentity, deleted = false): void {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    if (deleted) this.view.delete(key);
    else {
      const ready = o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      this.view.set(key, { ready, serial: o.status?.serialNumber });
    }
    for (const w of this.waiters.splice(0)) w();
  }

  async start(): Promise<void> {
    let cont: string | undefined;
    let rv = '';
    do {
      const page = (await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, limit: 500, _continue: cont })) as {
        items: RawIdentity[]; metadata: { resourceVersion: string; continue?: string };
      };
      for (const o of page.items) this.apply(o);
      rv = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    const watch = async (from: string) => {
      this.abort = await new Watch(this.kc).watch(`/apis/${GROUP}/${VERSION}/${PLURAL}`, { resourceVersion: from, allowWatchBookmarks: true },
        (type, obj: RawIdentity) => {
          if (type === 'BOOKMARK') rv = obj.metadata.resourceVersion ?? rv;
          else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            rv = obj.metadata.resourceVersion ?? rv;
            this.apply(obj, type === 'DELETED');
          }
        },
        () => {
          if (this.abort) setTimeout(() => void watch(rv).catch(() => undefined), 200);
        });
    };
    await watch(rv);
  }

  stop(): void {
    const a = this.abort;
    this.abort = undefined;
    a?.abort();
  }

  /** Serials now, to tell a re-issue from the old certificate. */
  serials(): Map<string, string | undefined> {
    return new Map([...this.view].map(([k, v]) => [k, v.serial]));
  }

  /** Identities Ready with a serial other than the one in `before` (all Ready ones when no `before`). */
  done(before?: Map<string, string | undefined>): number {
    let n = 0;
    for (const [k, v] of this.view) if (v.ready && v.serial && (!before || before.get(k) !== v.serial)) n++;
    return n;
  }

  /** Resolves when `done(before)` reaches `n`. */
  async until(n: number, before?: Map<string, string | undefined>, timeoutMs = 3_600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.done(before) < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.done(before)} of ${n} identities done after ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}
