/** The figures of one bench/real.ts phase, and the table printed for people. */
import { sumWrites } from './real-measure.ts';

export interface PhaseResult {
  name: string;
  identities: number;
  /** Certificates issued in the phase (0: none expected). */
  issuances: number;
  seconds: number;
  /** apiserver_request_total write deltas, "resource[/subresource] VERB" -> count (the bench's own writes included). */
  writes: Record<string, number>;
  /** Writes the bench itself made in the phase (identity creates, the CA Secret replace). */
  benchWrites?: number;
  apiserverCpuSeconds: number;
  operatorCpuSeconds: number;
  etcdCpuSeconds: number;
  peakRssMB: number;
  rssMB: number;
  /** At the phase's end: RSS of anonymous memory (heaps) and of mapped files (the node binary's code). */
  rssAnonMB?: number;
  rssFileMB?: number;
  peakRssBeforeMB?: number;
  peakHeapUsedMB: number;
  peakHeapTotalMB: number;
  /** Peak memory outside the V8 heap held by JS objects (Buffers, ArrayBuffers). */
  peakExternalMB?: number;
  /** V8 heap spaces' use at the scrape with the highest heap use (MB). */
  heapSpacesMB?: Record<string, number>;
  eventLoopP99Ms: number;
  loadAverage: [number, number];
  createSeconds?: number;
  afterCreateSeconds?: number;
}

const isLease = (k: string) => k.startsWith('leases ');
const isEvent = (k: string) => k.startsWith('events ');

/** Operator writes (not Leases, not Events, not the bench's own) per issuance, and Event writes per issuance. */
export function perIssuance(r: PhaseResult): { writes: number; events: number; leases: number; other: number } {
  const operatorWrites = sumWrites(r.writes, (k) => !isLease(k) && !isEvent(k)) - (r.benchWrites ?? 0);
  const events = sumWrites(r.writes, isEvent);
  return {
    writes: r.issuances ? operatorWrites / r.issuances : operatorWrites,
    events: r.issuances ? events / r.issuances : events,
    leases: sumWrites(r.writes, isLease),
    other: operatorWrites,
  };
}

export function printTable(n: number, m: number, machine: Record<string, unknown>, results: PhaseResult[]): void {
  const f = (v: number, d = 1) => v.toFixed(d);
  console.log(`bench:real  ${n} identities in ${m} namespaces  ${JSON.stringify(machine)}`);
  const rows: Array<[string, ...string[]]> = [['', ...results.map((r) => r.name)]];
  const row = (label: string, fn: (r: PhaseResult) => string) => rows.push([label, ...results.map(fn)]);
  row('seconds to all done', (r) => f(r.seconds));
  row('  creating (s) / after creates (s)', (r) => (r.createSeconds === undefined ? '' : `${f(r.createSeconds)} / ${f(r.afterCreateSeconds!)}`));
  row('issuances', (r) => String(r.issuances));
  row('operator writes / issuance (no Events, Leases)', (r) => (r.issuances ? f(perIssuance(r).writes, 2) : `${perIssuance(r).other} total`));
  row('Event writes / issuance', (r) => (r.issuances ? f(perIssuance(r).events, 2) : `${perIssuance(r).events} total`));
  row('Lease writes', (r) => String(perIssuance(r).leases));
  row('operator CPU / issuance (ms)', (r) => (r.issuances ? f((r.operatorCpuSeconds / r.issuances) * 1000) : `${f(r.operatorCpuSeconds)} s`));
  row('kube-apiserver CPU / issuance (ms)', (r) => (r.issuances ? f((r.apiserverCpuSeconds / r.issuances) * 1000) : `${f(r.apiserverCpuSeconds)} s`));
  row('etcd CPU / issuance (ms)', (r) => (r.issuances ? f((r.etcdCpuSeconds / r.issuances) * 1000) : `${f(r.etcdCpuSeconds)} s`));
  row('operator peak RSS (VmHWM, MB)', (r) => f(r.peakRssMB, 0));
  row('  RSS at the end: anonymous / files (MB)', (r) => (r.rssAnonMB === undefined ? '' : `${f(r.rssAnonMB, 0)} / ${f(r.rssFileMB ?? 0, 0)}`));
  row('operator peak heap used / total (MB)', (r) => `${f(r.peakHeapUsedMB, 0)} / ${f(r.peakHeapTotalMB, 0)}`);
  row('operator peak external memory (MB)', (r) => (r.peakExternalMB === undefined ? '' : f(r.peakExternalMB, 0)));
  row('  heap at its peak: old / code / large objects (MB)', (r) => (r.heapSpacesMB === undefined ? ''
    : ['old', 'code', 'large_object'].map((k) => f(r.heapSpacesMB![k] ?? 0, 0)).join(' / ')));
  row('event-loop p99, worst 3 s window (ms)', (r) => f(r.eventLoopP99Ms));
  row('load average (start / end)', (r) => `${r.loadAverage[0]} / ${r.loadAverage[1]}`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  console.log('\nwrites by resource and verb:');
  for (const r of results) console.log(`  ${r.name}: ${Object.entries(r.writes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
