/**
 * `npm run bench:podcert -- [--pods=500] [--nodes=10] [--rate=1000] [--workers=4] [--json]`
 *
 * The pod-certificate signer on a real control plane (etcd + kube-apiserver 1.37 of test/controlplane, no audit log,
 * no controller-manager): the operator (src/main.ts, as its ServiceAccount with deploy/ and
 * deploy/optional/pod-certificates RBAC, info logging) with --reissue-rate=RATE (default 1000, the maximum: the
 * signer's own pace is measured, not the token bucket's) and --workers. K Node objects with kubelet credentials, P Pods
 * bound round-robin to them (not measured), a warm-up of 20 requests, then one PodCertificateRequest per pod, created at
 * once (32 concurrent creates, each with its node's credentials and a fresh P-256 key's stub PKCS#10 request, keys made
 * beforehand). Reports: seconds from the first create to the last "pod certificate issued" log line, requests signed
 * per second, seconds after the last create, writes per request by resource and verb (the apiserver's
 * apiserver_request_total; the nodes' creates included), and operator / kube-apiserver / etcd CPU seconds per request
 * (/proc; the apiserver's includes serving the creates), with the load average before and after.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/support/controlplane.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';
import { createRequest, installOperatorRbac, listRequests, makeNode, makePods, pool, stubRequest, terminalType } from '../test/support/podcert-cluster.ts';
import { eventually } from '../test/support/wait.ts';
import { cpuSeconds, diffWrites, parseWrites, sumWrites } from './real-measure.ts';

const { values: flags } = parseArgs({
  options: {
    pods: { type: 'string', default: '500' },
    nodes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const P = Number(flags.pods);
const K = Number(flags.nodes);
const WARMUP = 20;
if (!(P > 0) || !(K > 0)) throw new Error('--pods and --nodes must be positive numbers');
const say = (line: string) => process.stderr.write(`${line}\n`);
const NS = 'bench';

const cp = await startControlPlane({ audit: false, controllerManager: false, log: (l) => process.stderr.write(l) });
let op: OperatorProcess | undefined;
try {
  await installOperatorRbac(cp);
  await cp.kubectl(['create', 'namespace', NS]);
  const nodes = await Promise.all(Array.from({ length: K }, (_, i) => makeNode(cp, `bench-node-${i}`)));
  const t = performance.now();
  const pods = await makePods(cp, NS, 'web', nodes, P, 'web');
  say(`${P} pods on ${K} nodes created in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  op = new OperatorProcess(await cp.serviceAccountKubeconfig('mtls-system', 'mtls-operator'), [
    '--pod-certificates=true', `--reissue-rate=${flags.rate}`, `--workers=${flags.workers}`, '--shutdown-grace=2s',
  ], { env: { MTLS_LOG_LEVEL: 'info' } });
  const operator = op;
  await eventually('the signer is on', async () => operator.logged('pod certificate signer on'), 120_000, 200);
  const nodeOf = (name: string) => nodes.find((n) => n.name === name)!;
  const issued = () => operator.count('pod certificate issued');

  // Warm-up (not measured): the first requests pay for connections and JIT.
  await pool(pods.slice(0, WARMUP), 8, async (p) => createRequest(nodeOf(p.node), p, `${p.name}-warmup`, await stubRequest()));
  await eventually('the warm-up signed', async () => issued() >= WARMUP || undefined, 120_000, 100);

  const stubs = await Promise.all(pods.map(() => stubRequest()));
  const metrics = async () => parseWrites((await cp.kubectl(['get', '--raw', '/metrics'])).stdout);
  const cpu = () => ({ operator: cpuSeconds(operator.child.pid!), apiserver: cpuSeconds(cp.apiserverPid()), etcd: cpuSeconds(cp.etcdPid()) });
  const writesBefore = await metrics();
  const cpuBefore = cpu();
  const loadBefore = loadavg();
  const base = issued();
  let lastIssuedAt = 0;
  const watcher = setInterval(() => {
    if (issued() - base >= P && !lastIssuedAt) lastIssuedAt = performance.now();
  }, 20);
  const t0 = performance.now();
  await pool(pods, 32, (p, i) => createRequest(nodeOf(p.node), p, `${p.name}-bench`, stubs[i]!));
  const created = performance.now();
  await eventually(`${P} requests signed`, async () => lastIssuedAt > 0 || undefined, 600_000, 50);
  clearInterval(watcher);
  const cpuAfter = cpu();
  const loadAfter = loadavg();
  const writes = diffWrites(await metrics(), writesBefore);
  const items = (await listRequests(cp, NS)).filter((p) => p.metadata.name.endsWith('-bench'));
  const notIssued = items.filter((p) => terminalType(p) !== 'Issued').length;
  if (items.length !== P || notIssued) throw new Error(`${items.length} requests, ${notIssued} not Issued`);

  const seconds = (lastIssuedAt - t0) / 1000;
  const per = (v: number) => v / P;
  const result = {
    date: new Date().toISOString(), version: cp.version, cores: cpus().length, cpu: cpus()[0]?.model,
    pods: P, nodes: K, reissueRate: Number(flags.rate), workers: Number(flags.workers),
    seconds, signedPerSecond: P / seconds, createSeconds: (created - t0) / 1000, afterLastCreateSeconds: (lastIssuedAt - created) / 1000,
    writesPerRequest: Object.fromEntries(Object.entries(writes).map(([k, v]) => [k, per(v)])),
    totalWritesPerRequest: per(sumWrites(writes)),
    cpuMsPerRequest: {
      operator: per(cpuAfter.operator - cpuBefore.operator) * 1000,
      apiserver: per(cpuAfter.apiserver - cpuBefore.apiserver) * 1000,
      etcd: per(cpuAfter.etcd - cpuBefore.etcd) * 1000,
    },
    loadAverage: { before: loadBefore, after: loadAfter },
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    const f = (n: number, d = 2) => n.toFixed(d);
    process.stdout.write([
      `pod certificates on ${result.version}, ${result.cores} cores (${result.cpu}), ${P} requests from ${K} nodes, --reissue-rate=${result.reissueRate}, --workers=${result.workers}`,
      `  signed: ${P} in ${f(seconds)} s from the first create = ${f(result.signedPerSecond, 1)} requests/s (creating them took ${f(result.createSeconds)} s; done ${f(result.afterLastCreateSeconds)} s after the last create)`,
      `  writes per request: ${f(result.totalWritesPerRequest)} (${Object.entries(result.writesPerRequest).map(([k, v]) => `${k} ${f(v)}`).join(', ')})`,
      `  CPU per request: operator ${f(result.cpuMsPerRequest.operator)} ms, kube-apiserver ${f(result.cpuMsPerRequest.apiserver)} ms, etcd ${f(result.cpuMsPerRequest.etcd)} ms`,
      `  load average before ${loadBefore.map((l) => f(l)).join(' ')}, after ${loadAfter.map((l) => f(l)).join(' ')}`,
      '',
    ].join('\n'));
  }
} finally {
  op?.kill();
  await op?.exited;
  await cp.stop();
}
