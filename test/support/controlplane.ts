/**
 * A real Kubernetes control plane for the tests: etcd + kube-apiserver + kube-controller-manager of the release
 * pinned in test/controlplane/VERSION, built from Go modules by test/controlplane/build.sh (or brought by
 * KUBEBUILDER_ASSETS, envtest's convention). One per mocha run, started by the first test file that asks for it
 * (`await controlPlane(this)` in a `before`), stopped by the root hook in ./real-hooks.ts (or at process exit):
 * processes by their PIDs, the temporary directory removed.
 *
 * What it runs: RBAC (authorization-mode Node,RBAC), an admin client certificate (system:masters), ServiceAccount
 * token signing (TokenRequest works), the default admission plugins (PodSecurity, ValidatingAdmissionPolicy, …),
 * and the controller-manager's controllers (garbage collector, namespace, serviceaccount, …). No scheduler, no
 * kubelet: pods are stored, never run (the local-node e2e adds those).
 *
 * Where neither binaries nor Go are present, the tests that need it skip with one line; with CI=true or
 * MTLS_REQUIRE_CONTROLPLANE=1 a missing control plane fails them instead.
 */
import { randomBytes } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';

/**
 * A random serial per certificate: -CAcreateserial shares ca.srl, and certificates signed at once (nodes made in
 * parallel) raced on it ("Unable to load number from ca.srl").
 */
const serial = (): string => `0x${randomBytes(16).toString('hex').replace(/^./, '1')}`;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const K8S_VERSION = readFileSync(join(ROOT, 'test/controlplane/VERSION'), 'utf8').trim();

/** Where the binaries are: KUBEBUILDER_ASSETS, else the build cache. undefined: not built. */
export function binDir(): string | undefined {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) return ['etcd', 'kube-apiserver'].every((b) => existsSync(join(assets, b))) ? assets : undefined;
  const cache = join(process.env.MTLS_CACHE ?? join(homedir(), '.cache/mtls-operator'), 'controlplane', K8S_VERSION, 'bin');
  return ['etcd', 'kube-apiserver', 'kube-controller-manager'].every((b) => existsSync(join(cache, b))) ? cache : undefined;
}

export const controlPlaneRequired = () => process.env.CI === 'true' || process.env.MTLS_REQUIRE_CONTROLPLANE === '1';

export interface KubectlResult { code: number; stdout: string; stderr: string }

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Path of the admin kubeconfig (client certificate in system:masters). */
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  /** The apiserver's git version, e.g. v1.37.2 (from /version). */
  readonly version: string;
  readonly binDir: string;
  /** The temporary directory (certificates, logs, etcd data). */
  readonly dir: string;
  /**
   * Whether kube-controller-manager runs (garbage collector, namespace and serviceaccount controllers). Always with
   * the built control plane; envtest's KUBEBUILDER_ASSETS (setup-envtest) bring only etcd and kube-apiserver.
   */
  readonly controllerManager: boolean;
  /** In a test that needs the controller-manager: skip (one line) where it is absent and not required. */
  needControllerManager(ctx: Mocha.Context): void;
  /** PID of the running kube-apiserver (to freeze it with SIGSTOP in tests). */
  apiserverPid(): number;
  /** PID of etcd (CPU figures in bench/real.ts). */
  etcdPid(): number;
  /** A fresh namespace `<prefix>-<n>`, with labels. */
  newNamespace(prefix?: string, labels?: Record<string, string>): Promise<string>;
  /** A kubeconfig file that authenticates as a ServiceAccount with a TokenRequest token (created if absent). */
  serviceAccountKubeconfig(namespace: string, name: string, expirationSeconds?: number): Promise<string>;
  /** kubectl against this control plane (admin kubeconfig unless given); never throws on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<KubectlResult>;
  /** `kubectl apply --server-side -f -` of YAML text; throws with kubectl's stderr on failure. */
  apply(yaml: string, opts?: { kubeconfig?: string; fieldManager?: string }): Promise<string>;
  /** A Secret read from the API as admin; undefined when it does not exist (404). */
  readSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** Install crds/ and wait until the CRD is Established. */
  installCrd(): Promise<void>;
  /**
   * The apiserver's audit log (level Metadata, ResponseComplete/ResponseStarted): every request with its user, verb,
   * object and response code, so tests count a process's writes on the real server.
   */
  audit(filter?: (e: AuditEvent) => boolean): AuditEvent[];
  /** Kill the kube-apiserver (SIGKILL) and start it again on the same port and etcd; resolves when ready. */
  restartApiserver(): Promise<void>;
  /**
   * A kubeconfig with a kubelet's credentials for node `nodeName`: a client certificate O=system:nodes,
   * CN=system:node:<nodeName> signed by the client CA (the Node authorizer and NodeRestriction apply to it).
   */
  nodeKubeconfig(nodeName: string): Promise<string>;
  stop(): Promise<void>;
}

export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string; apiGroup?: string };
  responseStatus?: { code?: number; message?: string; reason?: string };
  requestReceivedTimestamp: string;
}

/** Verbs that change something. */
export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
`;

let shared: Promise<ControlPlane> | undefined;
let skipNoted = false;

/**
 * The shared control plane, started on first use. In a mocha `before(function () { … })`: skips the suite with one
 * line when no binaries can be had (fails instead where it is required).
 */
export async function controlPlane(ctx?: Mocha.Context): Promise<ControlPlane> {
  ctx?.timeout(Math.max(ctx.timeout(), 600_000));
  shared ??= start(requireBinaries(ctx));
  return shared;
}

/**
 * A control plane of the suite's own (other flags than the shared one's), in a mocha `before(function () { … })`:
 * skipped or failed as `controlPlane` is when no binaries can be had. The suite stops it.
 */
export async function ownControlPlane(ctx: Mocha.Context, opts: StartOptions = {}): Promise<ControlPlane> {
  requireBinaries(ctx);
  return startControlPlane(opts);
}

/** The binaries' directory; without one, the suite is skipped with one line (fails where they are required). */
function requireBinaries(ctx?: Mocha.Context): string {
  const bins = binDir();
  if (bins) return bins;
  const why = `no control plane binaries (run \`bash test/controlplane/build.sh\` with Go installed, or set KUBEBUILDER_ASSETS)`;
  if (controlPlaneRequired() || !ctx) throw new Error(`real-apiserver tests cannot run: ${why}`);
  if (!skipNoted) process.stdout.write(`real-apiserver tests skipped: ${why}\n`);
  skipNoted = true;
  ctx.skip();
  throw new Error('unreachable: ctx.skip() throws');
}

export interface StartOptions {
  /** The audit log (default true): the tests count writes with it; the benchmark leaves it off (it costs the apiserver CPU). */
  audit?: boolean;
  /** Start kube-controller-manager when the binaries have it (default true). */
  controllerManager?: boolean;
  /** Where the one "control plane ready" line goes (default stdout). */
  log?: (line: string) => void;
  /**
   * More kube-apiserver flags, after the standard ones (a later flag wins for single-valued ones), e.g. a
   * `--runtime-config` that serves only certificates.k8s.io/v1beta1 pod certificates (test/real/podcert-v1beta1.test.ts).
   */
  apiserverArgs?: string[];
  /** kube-apiserver --authorization-mode (default Node,RBAC; list flags accumulate, so it cannot go in apiserverArgs). */
  authorizationMode?: string;
}

/**
 * A control plane of its own, outside mocha (bench/real.ts): the caller stops it. Throws when no binaries can be had.
 */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const bins = binDir();
  if (!bins) throw new Error('no control plane binaries (run `bash test/controlplane/build.sh` with Go installed, or set KUBEBUILDER_ASSETS)');
  return start(bins, opts);
}

/** Stop the shared control plane if one was started (root afterAll hook). */
export async function stopControlPlane(): Promise<void> {
  if (!shared) return;
  const cp = await shared.catch(() => undefined);
  shared = undefined;
  await cp?.stop();
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** A CA, the apiserver's serving certificate, client certificates, the ServiceAccount signing key. */
async function makeCertificates(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-control-plane-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  const leaf = async (name: string, subj: string, ext: string) => {
    await openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    writeFileSync(join(dir, `${name}.ext`), ext);
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial(), '-days', '2',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  };
  await leaf('apiserver', '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' +
    'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
  const client = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n';
  await leaf('admin', '/O=system:masters/CN=admin', client);
  await leaf('controller-manager', '/CN=system:kube-controller-manager', client);
  await openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key']);
  await openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

function kubeconfigText(server: string, caPem: string, user: Record<string, string>): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const userLines = Object.entries(user).map(([k, v]) => `    ${k}: ${v}`).join('\n');
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: test', '  cluster:', `    server: ${server}`, `    certificate-authority-data: ${b64(caPem)}`,
    'users:', '- name: user', '  user:', userLines,
    'contexts:', '- name: test', '  context: {cluster: test, user: user}',
    'current-context: test', '',
  ].join('\n');
}

class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  constructor(name: string, cmd: string, args: string[], logPath: string) {
    this.name = name;
    const log = openSync(logPath, 'a');
    this.child = spawn(cmd, args, { stdio: ['ignore', log, log] });
    running.add(this);
    this.child.once('exit', () => running.delete(this));
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async kill(signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(t);
  }
}

/** Every process started here, killed synchronously if the test process exits without stopping them. */
const running = new Set<Proc>();
process.once('exit', () => {
  for (const p of running) {
    try {
      process.kill(p.child.pid!, 'SIGKILL');
    } catch { /* gone */ }
  }
});

async function start(bins: string, opts: StartOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'mtls-controlplane-'));
  const logs: Proc[] = [];
  try {
    await makeCertificates(dir);
    const [etcdPort, peerPort, apiPort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const server = `https://127.0.0.1:${apiPort}`;
    const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const certUser = (name: string) => ({
      'client-certificate-data': Buffer.from(readFileSync(join(dir, `${name}.crt`))).toString('base64'),
      'client-key-data': Buffer.from(readFileSync(join(dir, `${name}.key`))).toString('base64'),
    });
    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, kubeconfigText(server, caPem, certUser('admin')), { mode: 0o600 });
    writeFileSync(join(dir, 'controller-manager.kubeconfig'), kubeconfigText(server, caPem, certUser('controller-manager')), { mode: 0o600 });

    mkdirSync(join(dir, 'etcd'));
    writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
    const etcd = new Proc('etcd', join(bins, 'etcd'), [
      '--data-dir', join(dir, 'etcd'), '--name', 'test',
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync', '--quota-backend-bytes', String(4 * 1024 ** 3), '--log-level', 'warn',
    ], join(dir, 'etcd.log'));
    logs.push(etcd);

    const apiserverArgs = [
      '--etcd-servers', `http://127.0.0.1:${etcdPort}`,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
      '--tls-cert-file', join(dir, 'apiserver.crt'), '--tls-private-key-file', join(dir, 'apiserver.key'),
      '--client-ca-file', join(dir, 'ca.crt'),
      '--authorization-mode', opts.authorizationMode ?? 'Node,RBAC',
      // As kubeadm: NodeRestriction on top of the default plugins. It only restricts requests of nodes (group
      // system:nodes): what kubelets may create, e.g. PodCertificateRequests only for pods bound to that node.
      '--enable-admission-plugins', 'NodeRestriction',
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file', join(dir, 'sa.pub'), '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--api-audiences', 'https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range', '10.0.0.0/24', '--allow-privileged=true',
      // As envtest: no kubernetes Service endpoints for a loopback-only apiserver (it refuses 127.0.0.1 for them).
      '--endpoint-reconciler-type', 'none',
      '--cert-dir', join(dir, 'apiserver-certs'), '--v', '1',
      ...(opts.audit === false ? [] : [
        '--audit-policy-file', join(dir, 'audit-policy.yaml'), '--audit-log-path', join(dir, 'audit.log'),
        '--audit-log-format', 'json', '--audit-log-mode', 'blocking', '--audit-log-maxsize', '0',
      ]),
      ...(process.env.MTLS_APISERVER_ARGS ? process.env.MTLS_APISERVER_ARGS.split(' ') : []),
      ...(opts.apiserverArgs ?? []),
    ];
    const apiserverLog = join(dir, 'kube-apiserver.log');
    let apiserver = new Proc('kube-apiserver', join(bins, 'kube-apiserver'), apiserverArgs, apiserverLog);
    logs.push(apiserver);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfig);
    const core = kubeConfig.makeApiClient(CoreV1Api);

    const waitReady = async (what: string, ms = 120_000) => {
      const deadline = Date.now() + ms;
      let last = '';
      for (;;) {
        for (const p of [etcd, apiserver]) {
          if (!p.alive) throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}); log: ${tail(join(dir, `${p.name}.log`))}`);
        }
        try {
          const res = await kubectlRun(['get', '--raw', '/readyz'], kubeconfig);
          if (res.code === 0 && res.stdout.trim() === 'ok') return;
          last = res.stderr || res.stdout;
        } catch (err) {
          last = String(err);
        }
        if (Date.now() > deadline) throw new Error(`${what}: not ready after ${ms} ms: ${last.slice(0, 400)}`);
        await sleep(200);
      }
    };
    await waitReady('kube-apiserver');

    const withKcm = opts.controllerManager !== false && existsSync(join(bins, 'kube-controller-manager'));
    if (!withKcm && opts.controllerManager !== false && process.env.MTLS_REQUIRE_CONTROLPLANE === '1') throw new Error(`no kube-controller-manager in ${bins}`);
    const kcm = !withKcm ? undefined : new Proc('kube-controller-manager', join(bins, 'kube-controller-manager'), [
      '--kubeconfig', join(dir, 'controller-manager.kubeconfig'),
      '--authentication-kubeconfig', join(dir, 'controller-manager.kubeconfig'),
      '--authorization-kubeconfig', join(dir, 'controller-manager.kubeconfig'),
      '--bind-address', '127.0.0.1', '--secure-port', String(kcmPort),
      // Each controller with its own ServiceAccount and role, as kubeadm runs it: the garbage collector needs to read
      // every kind (custom resources included), which system:kube-controller-manager alone may not.
      '--leader-elect=false', '--use-service-account-credentials=true',
      '--root-ca-file', join(dir, 'ca.crt'), '--service-account-private-key-file', join(dir, 'sa.key'),
      '--cluster-signing-cert-file', join(dir, 'ca.crt'), '--cluster-signing-key-file', join(dir, 'ca.key'),
      '--controllers', '*', '--concurrent-gc-syncs', '5', '--v', '1',
    ], join(dir, 'kube-controller-manager.log'));
    if (kcm) logs.push(kcm);

    const versionInfo = JSON.parse((await kubectlRun(['get', '--raw', '/version'], kubeconfig)).stdout) as { gitVersion: string };
    // The namespace and serviceaccount controllers are running once `default` has its ServiceAccount.
    const saDeadline = Date.now() + 120_000;
    while (kcm) {
      if (!kcm.alive) throw new Error(`kube-controller-manager exited; log: ${tail(join(dir, 'kube-controller-manager.log'))}`);
      try {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        break;
      } catch {
        if (Date.now() > saDeadline) throw new Error('kube-controller-manager did not create default/default in 120 s');
        await sleep(200);
      }
    }
    (opts.log ?? ((l: string) => process.stdout.write(l)))(`control plane ${versionInfo.gitVersion} (etcd, kube-apiserver${kcm ? ', kube-controller-manager' : ''}) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${server}\n`);

    let nsCounter = 0;
    const cp: ControlPlane = {
      server, kubeconfig, kubeConfig, version: versionInfo.gitVersion, binDir: bins, dir,
      controllerManager: Boolean(kcm),
      needControllerManager(ctx) {
        if (kcm) return;
        process.stdout.write(`skipped: needs kube-controller-manager, which ${bins} does not have\n`);
        ctx.skip();
      },
      apiserverPid: () => apiserver.child.pid!,
      etcdPid: () => etcd.child.pid!,
      async newNamespace(prefix = 'test', labels = {}) {
        const name = `${prefix}-${process.pid % 10000}-${++nsCounter}`;
        await core.createNamespace({ body: { metadata: { name, labels } } });
        return name;
      },
      async serviceAccountKubeconfig(namespace, name, expirationSeconds = 3600) {
        try {
          await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
        } catch (err) {
          if ((err as { code?: number }).code !== 409) throw err;
        }
        const tr = await core.createNamespacedServiceAccountToken({
          name, namespace, body: { spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds } },
        });
        const path = join(dir, `sa-${namespace}-${name}.kubeconfig`);
        writeFileSync(path, kubeconfigText(server, caPem, { token: tr.status?.token ?? '' }), { mode: 0o600 });
        return path;
      },
      kubectl: (args, opts = {}) => kubectlRun(args, opts.kubeconfig ?? kubeconfig, opts.input),
      async apply(yaml, opts = {}) {
        const res = await kubectlRun(['apply', '--server-side', `--field-manager=${opts.fieldManager ?? 'test'}`, '-f', '-'],
          opts.kubeconfig ?? kubeconfig, yaml);
        if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr.trim()}`);
        return res.stdout;
      },
      async readSecret(namespace, name) {
        try {
          return await core.readNamespacedSecret({ namespace, name });
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return undefined;
          throw err;
        }
      },
      async installCrd() {
        const res = await kubectlRun(['apply', '--server-side', '--force-conflicts', '-f', join(ROOT, 'crds/mtls.dev_mutualtlsidentities.yaml')], kubeconfig);
        if (res.code !== 0) throw new Error(`installing the CRD failed: ${res.stderr.trim()}`);
        const wait = await kubectlRun(['wait', '--for=condition=Established', '--timeout=60s', 'crd/mutualtlsidentities.mtls.dev'], kubeconfig);
        if (wait.code !== 0) throw new Error(`the CRD is not Established: ${wait.stderr.trim()}`);
      },
      audit(filter = () => true) {
        let text = '';
        try {
          text = readFileSync(join(dir, 'audit.log'), 'utf8');
        } catch { /* none yet */ }
        return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent).filter(filter);
      },
      async nodeKubeconfig(nodeName) {
        const path = join(dir, `node-${nodeName}.kubeconfig`);
        if (existsSync(path)) return path;
        const base = `node-${nodeName}`;
        await openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`,
          '-subj', `/O=system:nodes/CN=system:node:${nodeName}`]);
        writeFileSync(join(dir, `${base}.ext`), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
        await openssl(dir, ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial(), '-days', '2',
          '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
        writeFileSync(path, kubeconfigText(server, caPem, certUser(base)), { mode: 0o600 });
        return path;
      },
      async restartApiserver() {
        await apiserver.kill('SIGKILL');
        apiserver = new Proc('kube-apiserver', join(bins, 'kube-apiserver'), apiserverArgs, apiserverLog);
        logs.push(apiserver);
        await waitReady('restarted kube-apiserver');
      },
      async stop() {
        for (const p of [...logs].reverse()) await p.kill();
        if (process.env.MTLS_KEEP_CONTROLPLANE !== '1') rmSync(dir, { recursive: true, force: true });
      },
    };
    return cp;
  } catch (err) {
    for (const p of logs.reverse()) await p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function kubectlRun(args: string[], kubeconfig: string, input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    // No input: stdin is not a pipe at all (a kubectl that exits before reading it gave EPIPE,
    // an uncaught error in the test process).
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // kubectl exited before reading all of it: its exit code says what happened
      child.stdin.end(input);
    }
  });
}
