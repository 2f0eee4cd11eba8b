/**
 * npm run local: try mtls-operator with no cluster, in one command. Brings up the project's own
 * control plane (etcd + kube-apiserver + kube-controller-manager built from Go modules by
 * test/controlplane/build.sh, or KUBEBUILDER_ASSETS; test/support/controlplane.ts), installs
 * crds/, applies examples/ (namespace demo: a server and a client identity), runs the operator
 * (src/main.ts) against it, waits for the identities to be Ready, and prints the KUBECONFIG to use.
 * Ctrl-C (or SIGTERM) stops the operator and the control plane and removes their files.
 *
 * No scheduler or kubelet: the example's pods are stored, never run; the identities, their
 * Secrets and the trust bundles are real. Flag: --no-examples (skip examples/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binDir, controlPlane, stopControlPlane } from '../test/support/controlplane.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stdout.write(`[local] ${line}\n`);
const fail = (line: string): never => {
  process.stderr.write(`npm run local: ${line}\n`);
  process.exit(1);
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const withExamples = !args.includes('--no-examples');
  if (!binDir()) {
    const hasGo = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
    if (!hasGo) fail('no control plane binaries and no Go to build them: install Go (https://go.dev/dl/), or set KUBEBUILDER_ASSETS to envtest binaries (setup-envtest use -p path)');
    say('building the control plane from Go modules into ~/.cache/mtls-operator (first time only: several minutes)...');
    const build = spawnSync('bash', [join(ROOT, 'test/controlplane/build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (build.status !== 0) fail('test/controlplane/build.sh failed (its output is above)');
  }

  say('starting etcd, kube-apiserver and kube-controller-manager...');
  const cp = await controlPlane();
  say(`control plane ${cp.version} at ${cp.server}`);

  let operator: ChildProcess | undefined;
  let stopping = false;
  const stop = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping the operator and the control plane...`);
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator!.once('exit', r));
      operator.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (operator.exitCode === null) operator.kill('SIGKILL');
    }
    await stopControlPlane();
    say('stopped; everything it started is gone');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop('Ctrl-C', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));

  const kubectl = async (argv: string[], what: string) => {
    const r = await cp.kubectl(argv);
    if (r.code !== 0) {
      process.stderr.write(r.stderr);
      await stop(`${what} failed`, 1);
    }
    return r.stdout;
  };
  say('installing the CRD (crds/)...');
  await cp.installCrd();
  await kubectl(['create', 'namespace', 'mtls-system'], 'creating namespace mtls-system');

  const logPath = join(cp.dir, 'operator.log');
  const log = createWriteStream(logPath);
  operator = spawn(process.execPath, [join(ROOT, 'src/main.ts'), '--metrics-address=127.0.0.1', '--metrics-port=0', '--metrics-auth=none', '--shutdown-grace=2s'], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfig, MTLS_OPERATOR_NAMESPACE: 'mtls-system' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  operator.stdout!.pipe(log);
  operator.stderr!.pipe(log);
  let port: string | undefined;
  operator.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) {
      if (!line.trim()) continue;
      let entry: { level?: string; message?: string; port?: number; namespace?: string; name?: string; reason?: string } = {};
      try { entry = JSON.parse(line); } catch { continue; }
      if (entry.message === 'metrics and health endpoint listening') port = String(entry.port);
      if (entry.message === 'controller started') say(`operator running (pid ${operator!.pid}, metrics http://127.0.0.1:${port}/metrics, log ${logPath})`);
      if (entry.level === 'error') say(`operator error: ${entry.message}${entry.namespace ? ` ${entry.namespace}/${entry.name}` : ''}`);
    }
  });
  operator.once('exit', (code) => { if (!stopping) void stop(`the operator exited (${code}); its log: ${logPath}`, 1); });

  if (withExamples) {
    say('applying examples/ (namespace demo: identities server and client)...');
    await kubectl(['apply', '-k', join(ROOT, 'examples')], 'kubectl apply -k examples/');
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await cp.kubectl(['wait', '-n', 'demo', '--for=condition=Ready', 'mutualtlsidentities', '--all', '--timeout=5s']);
      if (r.code === 0) break;
      if (Date.now() > deadline) await stop('identities not Ready after 2 minutes', 1);
    }
    say('identities Ready:');
    process.stdout.write((await kubectl(['get', 'mutualtlsidentities', '-n', 'demo'], 'kubectl get')).replace(/^/gm, '    '));
  }
  say('ready. In another terminal:');
  process.stdout.write([
    `    export KUBECONFIG=${cp.kubeconfig}`,
    '    kubectl get mtlsid -A',
    '    kubectl mtls status server -n demo        # or: npm run cli -- status server -n demo',
    '    kubectl -n demo get secret server-mtls -o yaml',
    'Ctrl-C here stops everything.', ''].join('\n'));
  process.stdout.write(`KUBECONFIG=${cp.kubeconfig}\n`);
}

main().catch((err: Error) => fail(err.message.split('\n')[0]!));
