/**
 * `npm run bench:real -- [--n=1000] [--namespaces=20] [--json] [--controller-manager] [--skip-alongside] [--skip-ca-change] [--cpu-prof=DIR] [--heap-snapshot=DIR] [--node-flags="--flag ..."] [--admin] [--apiserver-cpu-prof=FILE]`
 *
 * The operator on a real control plane (etcd + kube-apiserver of test/controlplane, from KUBEBUILDER_ASSETS or the
 * cached build; no audit log; kube-controller-manager only with --controller-manager), run as the image runs it:
 * `node dist/bundle/main.js` (built here by `npm run build` and `npm run bundle`) with the Deployment's args and NODE_OPTIONS
 * (read from deploy/deployment.yaml), in its own process, as the Deployment's ServiceAccount mtls-system/mtls-operator
 * with deploy/'s RBAC and a TokenRequest token (--admin: as the admin user with its client certificate, which the
 * apiserver verifies again on every request: ~7% of its CPU at 10,000). Phases, each on the state the last left:
 *
 *   alongside  operator running and synced; N identities created through the API (32 concurrent creates) across M
 *              namespaces; seconds from the first create to all Ready, and after the last create.
 *   cold       (with --skip-alongside: the N identities created first, then the first operator, which bootstraps
 *              the CA; otherwise:) operator stopped; every issued Secret deleted; a new operator started: seconds from its start until
 *              every identity is Ready with a new serial; API writes by resource and verb from the apiserver's own
 *              apiserver_request_total, per issuance; kube-apiserver and etcd CPU seconds per issuance (/proc).
 *   restart    operator stopped (SIGTERM) and started again over N valid identities: writes (Leases apart), seconds
 *              until it has reconciled every identity (its mtls_reconcile_duration_seconds count).
 *   ca-change  the CA Secret replaced in place by a new root (an unstaged rotation): seconds until every identity is
 *              Ready with a new serial at the Deployment's --reissue-rate, CPU, RSS.
 *
 * --apiserver-cpu-prof=FILE: a 45 s CPU profile of the kube-apiserver (its /debug/pprof/profile) from 15 s into the
 * cold phase, for `go tool pprof -top FILE` (where the control plane's CPU per issuance goes).
 *
 * Each phase reports the operator's peak RSS (VmHWM), peak heap used (its nodejs_heap_size_used_bytes, sampled every
 * 3 s) and the worst event-loop delay p99 of any 3 s interval (prom-client's nodejs_eventloop_lag_p99_seconds).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { CA_CRT, GROUP, PLURAL, TLS_CRT, TLS_KEY, VERSION } from '../src/api/types.ts';
import { generateRootCA } from '../src/pki/index.ts';
import { freePort, startControlPlane, type ControlPlane } from '../test/support/controlplane.ts';
import { untilOperatorRbacInEffect } from '../test/support/rbac.ts';
import { cpuSeconds, diffWrites, IdentityTracker, loadAverage, memoryMB, metricValue, OperatorSampler, parseWrites, type WriteCounts } from './real-measure.ts';
import { printTable, type PhaseResult } from './real-report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OPERATOR_NS = 'mtls-system';
const CA_SECRET = 'mtls-root-ca';

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    namespaces: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    'controller-manager': { type: 'boolean', default: false },
    'skip-ca-change': { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    'skip-alongside': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'heap-snapshot': { type: 'string' },
    'node-flags': { type: 'string' },
    /** Run the operator as the admin user (client certificate) instead of the chart's ServiceAccount (token). */
    admin: { type: 'boolean', default: false },
    'apiserver-cpu-prof': { type: 'string' },
    /** Experiments: K=V added to (or replacing) the Deployment's environment, e.g. --env=MALLOC_TRIM_THRESHOLD_=131072. */
    env: { type: 'string', multiple: true },
  },
});
const N = Number(flags.n);
const M = Number(flags.namespaces);
if (!(N > 0) || !(M > 0)) throw new Error('--n and --namespaces must be positive numbers');
const say = (line: string) => process.stderr.write(`${line}\n`);
/** dist/ copied at the start: a rebuild while the bench runs does not change the operator between phases. */
const DIST = join(ROOT, '.bench-real', String(process.pid), 'dist');

/** The operator container's args and NODE_OPTIONS, as deploy/deployment.yaml has them. */
function deployment(): { args: string[]; nodeOptions: string; env: Record<string, string> } {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/deployment.yaml'), 'utf8')).map((d) => d.toJS());
  const c = docs.find((d) => d?.kind === 'Deployment').spec.template.spec.containers[0] as {
    args: string[]; env: Array<{ name: string; value?: string }>;
  };
  const env = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  for (const kv of flags.env ?? []) {
    const at = kv.indexOf('=');
    if (at < 1) throw new Error(`--env takes NAME=VALUE, not '${kv}'`);
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return { args: c.args.filter((a) => !a.startsWith('--metrics-port')), nodeOptions: env.NODE_OPTIONS ?? '', env };
}

interface Operator {
  child: ChildProcess;
  pid: number;
  port: number;
  startedAt: number;
  sampler: OperatorSampler;
  exited: Promise<unknown>;
  /** The operator's CPU seconds when the phase began (undefined: the phase began with the process). */
  cpuAtMark?: number;
}

let operators = 0;
/** The operator's identity on the API server: deploy/'s ServiceAccount and RBAC, as in a cluster (or admin). */
const OPERATOR_RBAC = ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml', 'leader-election-rbac.yaml'];
let operatorKubeconfig = '';
async function installOperatorIdentity(cp: ControlPlane): Promise<void> {
  for (const f of OPERATOR_RBAC) await cp.apply(readFileSync(join(ROOT, 'deploy', f), 'utf8'));
  if (flags.admin) {
    operatorKubeconfig = cp.kubeconfig;
    return;
  }
  operatorKubeconfig = await cp.serviceAccountKubeconfig(OPERATOR_NS, 'mtls-operator', 12 * 3600);
  await untilOperatorRbacInEffect(cp, operatorKubeconfig, OPERATOR_NS);
}

async function startOperator(cp: ControlPlane): Promise<Operator> {
  const d = deployment();
  const port = await freePort();
  const log = openSync(join(cp.dir, `operator-${++operators}.log`), 'a');
  const startedAt = performance.now();
  const prof = [
    ...(flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${flags['cpu-prof']}`] : []),
    ...(flags['heap-snapshot'] ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${flags['heap-snapshot']}`] : []),
    // Experiments: V8 flags NODE_OPTIONS refuses (e.g. --optimize-for-size), given to node before the bundle.
    ...(flags['node-flags'] ? flags['node-flags'].split(/\s+/).filter(Boolean) : []),
  ];
  // --metrics-auth=none: the bench scrapes /metrics and /readyz over plain HTTP without a token.
  // As the image runs it (Dockerfile ENTRYPOINT): the esbuild bundle, no source maps.
  const child = spawn(process.execPath, [...prof, join(DIST, 'bundle', 'main.js'), ...d.args, `--metrics-port=${port}`, '--metrics-address=127.0.0.1', '--metrics-auth=none'], {
    env: { ...process.env, ...d.env, NODE_OPTIONS: d.nodeOptions, KUBECONFIG: operatorKubeconfig, POD_NAME: `bench-${operators}`, MTLS_OPERATOR_NAMESPACE: OPERATOR_NS },
    stdio: ['ignore', log, log],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const sampler = new OperatorSampler(port);
  sampler.start();
  return { child, pid: child.pid!, port, startedAt, sampler, exited };
}

async function stopOperator(op: Operator): Promise<void> {
  op.sampler.stop();
  const dir = flags['heap-snapshot'];
  if (dir) {
    // A heap snapshot of the operator at the end of the phase (Chrome DevTools' Memory tab reads it).
    const count = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).length;
    const before = count();
    op.child.kill('SIGUSR2');
    // Bounded, and not past the operator's end (one that exited, e.g. refused its NODE_OPTIONS, writes nothing).
    const deadline = Date.now() + 180_000;
    while (count() === before && op.child.exitCode === null && op.child.signalCode === null && Date.now() < deadline) await sleep(500);
    if (count() === before) say(`no heap snapshot from the operator (${op.child.exitCode === null ? 'none within 180 s' : `it exited ${op.child.exitCode}`})`);
    else await sleep(5000);
  }
  op.child.kill('SIGTERM');
  await op.exited;
}

/** The kube-apiserver's own CPU profile (Go pprof) of 45 s, from 15 s on (--apiserver-cpu-prof). */
async function profileApiserver(cp: ControlPlane, file: string): Promise<void> {
  await sleep(15_000);
  const out = openSync(file, 'w');
  const kubectl = spawn('kubectl', ['--kubeconfig', cp.kubeconfig, 'get', '--raw', '/debug/pprof/profile?seconds=45'], { stdio: ['ignore', out, 'inherit'] });
  const code = await new Promise((r) => kubectl.once('exit', r));
  closeSync(out);
  say(code === 0 ? `kube-apiserver CPU profile: ${file} (go tool pprof -top ${file})` : `kube-apiserver CPU profile failed (kubectl exit ${String(code)})`);
}

/** Snapshot of everything counted per phase. */
interface Mark { at: number; writes: WriteCounts; apiserverCpu: number; etcdCpu: number; load: number }

async function mark(cp: ControlPlane): Promise<Mark> {
  const res = await cp.kubectl(['get', '--raw', '/metrics']);
  if (res.code !== 0) throw new Error(`apiserver /metrics: ${res.stderr}`);
  return { at: performance.now(), writes: parseWrites(res.stdout), apiserverCpu: cpuSeconds(cp.apiserverPid()), etcdCpu: cpuSeconds(cp.etcdPid()), load: loadAverage() };
}

function phase(name: string, from: Mark, to: Mark, op: Operator, issuances: number, extra: Partial<PhaseResult> = {}): PhaseResult {
  const writes = diffWrites(to.writes, from.writes);
  const operatorCpuSeconds = cpuSeconds(op.pid) - (op.cpuAtMark ?? 0);
  const mem = memoryMB(op.pid);
  return {
    name, identities: N, issuances, seconds: (to.at - from.at) / 1000, writes, operatorCpuSeconds,
    apiserverCpuSeconds: to.apiserverCpu - from.apiserverCpu, etcdCpuSeconds: to.etcdCpu - from.etcdCpu,
    peakRssMB: mem.peak, rssMB: mem.rss, rssAnonMB: mem.anon, rssFileMB: mem.file, peakHeapUsedMB: op.sampler.heapUsedMB, peakHeapTotalMB: op.sampler.heapTotalMB,
    peakExternalMB: op.sampler.externalMB, heapSpacesMB: op.sampler.spacesAtPeakMB,
    eventLoopP99Ms: op.sampler.loopP99Ms, loadAverage: [from.load, to.load], ...extra,
  };
}

/** One phase's figures on stderr as soon as it ends (a long run that is cut short still leaves them). */
function done(r: PhaseResult): PhaseResult {
  say(`phase ${JSON.stringify(r)}`);
  return r;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function main(): Promise<void> {
  if (!flags['skip-build']) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('npm', ['run', '--silent', 'bundle'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  mkdirSync(DIST, { recursive: true });
  cpSync(join(ROOT, 'dist'), DIST, { recursive: true });
  const cp = await startControlPlane({ audit: false, controllerManager: flags['controller-manager'], log: (l) => process.stderr.write(l) });
  const results: PhaseResult[] = [];
  try {
    await cp.installCrd();
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await installOperatorIdentity(cp);
    const namespaces = Array.from({ length: M }, (_, i) => `bench-${i}`);
    for (const name of namespaces) await core.createNamespace({ body: { metadata: { name } } });
    const tracker = new IdentityTracker(cp.kubeConfig, custom);
    await tracker.start();

    const ids = Array.from({ length: N }, (_, i) => ({ ns: namespaces[i % M]!, name: `svc-${i}` }));
    const create = () => pool(ids, 32, ({ ns, name }) => custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: PLURAL, namespace: ns,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace: ns }, spec: { serviceAccountName: name, dnsNames: [`${name}.${ns}.svc`, `${name}.${ns}.svc.cluster.local`] } },
    }));
    // Each workload's ServiceAccount exists, as in a real cluster (otherwise every identity also gets a
    // ServiceAccountNotFound Warning Event); created before any phase is timed.
    const t0 = performance.now();
    await pool(ids, 32, ({ ns, name }) => core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name, namespace: ns } } }));
    say(`${N} ServiceAccounts created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    let op: Operator;
    let m0: Mark;
    let m1: Mark;
    let before: Map<string, string | undefined> | undefined;
    if (!flags['skip-alongside']) {
      // alongside: the operator synced and leading, then N creates.
      op = await startOperator(cp);
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${op.port}/readyz`).then((r) => r.ok, () => false);
        const text = ok ? await op.sampler.scrape().catch(() => '') : '';
        if (ok && metricValue(text, 'mtls_leader') === 1) break;
        await sleep(250);
      }
      say(`alongside: creating ${N} identities in ${M} namespaces`);
      m0 = await mark(cp);
      op.cpuAtMark = cpuSeconds(op.pid);
      op.sampler.loopP99Ms = 0;
      await create();
      const created = performance.now();
      await tracker.until(N);
      const readyAt = performance.now();
      await sleep(3000);
      m1 = await mark(cp);
      m1.at = readyAt;
      results.push(done(phase('alongside', m0, m1, op, N, { createSeconds: (created - m0.at) / 1000, afterCreateSeconds: (readyAt - created) / 1000, benchWrites: N })));
      await stopOperator(op);
      // cold: no Secret left; a new operator from its start.
      say('cold: deleting every issued Secret, starting a new operator');
      for (const ns of namespaces) await core.deleteCollectionNamespacedSecret({ namespace: ns, labelSelector: 'app.kubernetes.io/managed-by=mtls-operator' });
      await sleep(2000);
      before = tracker.serials();
    } else {
      // cold from scratch: identities created first (no status), then the first operator (it bootstraps the CA).
      say(`cold: creating ${N} identities in ${M} namespaces, then starting the operator`);
      const t = performance.now();
      await create();
      say(`created in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      await sleep(2000);
    }
    m0 = await mark(cp);
    op = await startOperator(cp);
    m0.at = op.startedAt;
    const apiserverProfile = flags['apiserver-cpu-prof'] ? profileApiserver(cp, flags['apiserver-cpu-prof']) : undefined;
    await tracker.until(N, before);
    const coldReady = performance.now();
    await sleep(3000);
    m1 = await mark(cp);
    m1.at = coldReady;
    // After the phase's mark: a profile still running past all-Ready does not add to the phase's CPU.
    await apiserverProfile;
    results.push(done(phase(flags['skip-alongside'] ? 'cold' : 'cold (Secrets deleted)', m0, m1, op, N)));
    await stopOperator(op);

    // restart: over N valid identities.
    say('restart: a new operator over valid identities');
    m0 = await mark(cp);
    op = await startOperator(cp);
    m0.at = op.startedAt;
    let reverified = 0;
    for (;;) {
      const text = await op.sampler.scrape().catch(() => '');
      if ((metricValue(text, 'mtls_reconcile_duration_seconds_count') ?? 0) >= N) break;
      await sleep(500);
    }
    reverified = performance.now();
    await sleep(5000);
    m1 = await mark(cp);
    m1.at = reverified;
    results.push(done(phase('restart', m0, m1, op, 0)));

    if (!flags['skip-ca-change']) {
      say('ca-change: the CA Secret replaced by a new root');
      const root = await generateRootCA({ now: new Date(), commonName: 'bench root 2' });
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      before = tracker.serials();
      const rss0 = memoryMB(op.pid).peak;
      m0 = await mark(cp);
      op.cpuAtMark = cpuSeconds(op.pid);
      op.sampler.loopP99Ms = 0;
      op.sampler.heapUsedMB = 0;
      op.sampler.heapTotalMB = 0;
      op.sampler.externalMB = 0;
      writeFileSync(`/proc/${op.pid}/clear_refs`, '5'); // VmHWM starts again from the current RSS
      const secret = await core.readNamespacedSecret({ namespace: OPERATOR_NS, name: CA_SECRET });
      secret.data = { [TLS_CRT]: b64(root.certPem), [TLS_KEY]: b64(root.keyPem), [CA_CRT]: b64(root.certPem) };
      await core.replaceNamespacedSecret({ namespace: OPERATOR_NS, name: CA_SECRET, body: secret });
      await tracker.until(N, before);
      const reissued = performance.now();
      await sleep(3000);
      m1 = await mark(cp);
      m1.at = reissued;
      results.push(done(phase('ca-change', m0, m1, op, N, { peakRssBeforeMB: rss0, benchWrites: 1 })));
    }
    await stopOperator(op);
    tracker.stop();
  } finally {
    await cp.stop();
    rmSync(join(DIST, '..'), { recursive: true, force: true });
  }
  const machine = { cores: cpus().length, memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version, kubernetes: cp.version, nodeOptions: deployment().nodeOptions, operatorUser: flags.admin ? 'admin (client certificate)' : 'system:serviceaccount:mtls-system:mtls-operator (token)' };
  if (flags.json) process.stdout.write(`${JSON.stringify({ n: N, namespaces: M, date: new Date().toISOString(), machine, phases: results }, null, 2)}\n`);
  else printTable(N, M, machine, results);
}

await main();
process.exit(0);
