/**
 * The operator as it runs in a cluster: the compiled program (dist-like, .bench-build) in its own
 * process, with the Deployment's V8 flags, against a fake API server in this process (plain HTTP,
 * real list/watch/apply semantics: test/integration/fake-apiserver.ts). N identities exist before
 * it starts; it bootstraps the CA and issues every one. Reports time until every Secret exists
 * and the operator process's peak RSS (VmHWM), which excludes the API server's own objects.
 *   npm exec -- node bench/process.ts [N]        (after bench/run.ts compiled .bench-build)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FakeApiServer } from '../test/integration/fake-apiserver.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const n = Number(process.argv[2] ?? 10_000);
const NODE_OPTIONS = process.argv.slice(3).length ? process.argv.slice(3) : ['--max-semi-space-size=4', '--max-old-space-size=256'];
if (process.env.BENCH_HEAP_PROF) NODE_OPTIONS.push('--heap-prof', '--heap-prof-dir=' + process.env.BENCH_HEAP_PROF);

const api = await FakeApiServer.start();
api.bookmarkMs = 60_000;
for (let i = 0; i < n; i++) api.putCustom('mutualtlsidentities', `team-${i % 50}`, `svc-${i}`, { serviceAccountName: `svc-${i}`, dnsNames: [`svc-${i}.team-${i % 50}.svc`, `svc-${i}.team-${i % 50}.svc.cluster.local`] });
const dir = mkdtempSync(join(tmpdir(), 'mtls-bench-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: ${api.url}\n    insecure-skip-tls-verify: true\nusers:\n- name: b\n  user:\n    token: ${api.token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: b\ncurrent-context: fake\n`);
const started = performance.now();
const child = spawn(process.execPath, [...NODE_OPTIONS, join(root, '.bench-build/src/main.js'), '--metrics-port=19402', '--metrics-address=127.0.0.1', '--metrics-auth=none', '--workers=8'], {
  env: { ...process.env, KUBECONFIG: kubeconfig, MTLS_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const issued = () => api.list('secrets').filter((s) => s.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'mtls-operator').length;
while (issued() < n) await sleep(100);
const seconds = (performance.now() - started) / 1000;
await sleep(1000);
const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
if (process.env.BENCH_METRICS) {
  const text = await (await fetch('http://127.0.0.1:19402/metrics')).text();
  console.log(text.split('\n').filter((l) => /^(nodejs_heap_size_used_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes|process_resident_memory_bytes|nodejs_heap_space_size_used_bytes)/.test(l)).join('\n'));
}
const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await api.close();
rmSync(dir, { recursive: true, force: true });
console.log(`${n} identities (operator process, fake API server over HTTP): all issued in ${seconds.toFixed(1)} s  peak RSS ${hwm.toFixed(0)} MB  RSS after ${rss.toFixed(0)} MB`);
