/**
 * The controller over the in-memory cluster, with the real clock, real timers and the real PKI
 * engine: N identities created at once, then measured until every one is Ready.
 *   npm exec -- node bench/controller.ts [N ...]     (default: 1000 10000)
 * Reports time to all Ready, API writes per issuance, writes after a restart over the same
 * (valid) identities, peak RSS, and event-loop delay p99 during the mass issuance.
 * RSS includes the in-memory cluster's own copy of every object (an API server would hold it).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CA_CRT, TLS_CRT, TLS_KEY } from '../src/api/types.ts';
import { systemClock } from '../src/clock.ts';
import { MemoryCluster } from '../src/cluster/memory.ts';
import { Controller } from '../src/controller/controller.ts';
import { b64 } from '../src/controller/secret.ts';
import { silentLogger } from '../src/log.ts';
import { generateRootCA } from '../src/pki/index.ts';

export interface ControllerBenchResult {
  identities: number;
  secondsToAllReady: number;
  issuancesPerSecond: number;
  writesPerIssuance: number;
  writesOnRestart: number;
  peakRssMB: number;
  eventLoopP99Ms: number;
}

const CA = { namespace: 'mtls-system', name: 'mtls-root-ca' };

function controller(cluster: MemoryCluster): Controller {
  return new Controller({
    cluster,
    clock: systemClock,
    logger: silentLogger(),
    config: {
      trustDomain: 'cluster.local',
      operatorNamespace: CA.namespace,
      caSecretName: CA.name,
      bootstrapCA: false,
      workers: 8,
    },
  });
}

function readyCount(cluster: MemoryCluster): number {
  let n = 0;
  for (const id of cluster.identities.values()) {
    if (id.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) n++;
  }
  return n;
}

export async function runControllerBench(n: number): Promise<ControllerBenchResult> {
  const cluster = new MemoryCluster({ caNamespace: CA.namespace, caName: CA.name });
  const root = await generateRootCA({ now: new Date() });
  cluster.putSecret({
    metadata: { name: CA.name, namespace: CA.namespace },
    type: 'kubernetes.io/tls',
    data: { [TLS_CRT]: b64(root.certPem), [TLS_KEY]: b64(root.keyPem), [CA_CRT]: b64(root.certPem) },
  });
  for (let i = 0; i < n; i++) {
    cluster.applyIdentity({
      metadata: { name: `svc-${i}`, namespace: `team-${i % 50}` },
      spec: { serviceAccountName: `svc-${i}`, dnsNames: [`svc-${i}.team-${i % 50}.svc`, `svc-${i}.team-${i % 50}.svc.cluster.local`] },
    });
  }
  await sleep(10);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  lag.enable();
  const started = performance.now();
  const first = controller(cluster);
  await first.start();
  while (readyCount(cluster) < n) await sleep(20);
  const seconds = (performance.now() - started) / 1000;
  lag.disable();
  await first.idle();
  const issuances = cluster.writesOf('createSecret') + cluster.writesOf('applySecret');
  const writes = cluster.writesOf();
  await first.stop();

  const second = controller(cluster);
  await second.start();
  await sleep(50);
  await second.idle();
  const writesOnRestart = cluster.writesOf() - writes;
  await second.stop();
  clearInterval(rssTimer);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return {
    identities: n,
    secondsToAllReady: seconds,
    issuancesPerSecond: n / seconds,
    writesPerIssuance: writes / issuances,
    writesOnRestart,
    peakRssMB: peakRss / 1024 / 1024,
    eventLoopP99Ms: lag.percentile(99) / 1e6,
  };
}

export function formatControllerBench(r: ControllerBenchResult): string {
  return [
    `${r.identities} identities:`,
    `all Ready in ${r.secondsToAllReady.toFixed(2)} s (${r.issuancesPerSecond.toFixed(0)}/s)`,
    `${r.writesPerIssuance.toFixed(2)} API writes per issuance`,
    `${r.writesOnRestart} writes on restart`,
    `peak RSS ${r.peakRssMB.toFixed(0)} MB`,
    `event-loop delay p99 ${r.eventLoopP99Ms.toFixed(1)} ms`,
  ].join('  ');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    console.log(formatControllerBench(await runControllerBench(n)));
  }
}
