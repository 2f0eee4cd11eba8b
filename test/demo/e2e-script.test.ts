/**
 * test/e2e/kind.sh cannot run here (no Docker engine, no kind): what can be checked is that it
 * parses (bash -n), that shellcheck finds nothing (when installed), and that without its tools
 * it skips with one line and exit 0 (or fails with E2E_REQUIRED=1, as CI sets).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const SCRIPT = fileURLToPath(new URL('../../test/e2e/kind.sh', import.meta.url));
const LOCAL = fileURLToPath(new URL('../../test/e2e/local-node.sh', import.meta.url));
const SHARED = ['scenario.sh', 'scenario-rotation.sh', 'scenario-restart.sh', 'scenario-podcert.sh', 'local-node/cluster.sh', 'local-node/images.sh']
  .map((f) => fileURLToPath(new URL(`../../test/e2e/${f}`, import.meta.url)));

function which(tool: string): string | undefined {
  const r = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describe('test/e2e/kind.sh (without a cluster)', function () {
  this.timeout(60_000);
  const bash = which('bash')!;
  let bin: string;

  /** Runs the script with PATH = `bin` only (plus `env`). */
  const runWith = (env: NodeJS.ProcessEnv = {}) =>
    spawnSync(bash, [SCRIPT], { env: { HOME: process.env.HOME, PATH: bin, ...env }, encoding: 'utf8', timeout: 30_000 });
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };

  beforeEach(() => {
    bin = mkdtempSync(join(tmpdir(), 'mtls-e2e-path-'));
  });
  afterEach(() => rmSync(bin, { recursive: true, force: true }));

  it('parses: bash -n', () => {
    execFileSync(bash, ['-n', SCRIPT]);
  });

  it('shellcheck finds nothing', function () {
    if (!which('shellcheck')) this.skip();
    execFileSync('shellcheck', ['-x', SCRIPT], { encoding: 'utf8' });
  });

  it('with none of its tools on PATH: one line saying what is missing, exit 0 (skipped)', () => {
    const r = runWith();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'e2e: SKIPPED: kind tests need docker, kind, kubectl and openssl; not found on PATH: docker kind kubectl openssl\n');
    assert.equal(r.stderr, '');
  });

  it('names only the tools that are missing (kubectl and openssl present)', () => {
    stub('kubectl', 'exit 0');
    stub('openssl', 'exit 0');
    const r = runWith();
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /^e2e: SKIPPED: .*not found on PATH: docker kind\n$/);
  });

  it('with the tools but no Docker engine (docker info fails): skipped, one line', () => {
    for (const t of ['kind', 'kubectl', 'openssl']) stub(t, 'echo "must not run: $0 $*" >&2; exit 3');
    stub('docker', '[ "$1" = info ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }; echo "must not run: docker $*" >&2; exit 3');
    const r = runWith();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "e2e: SKIPPED: kind tests need a running Docker engine: 'docker info' failed\n");
    assert.equal(r.stderr, '', 'nothing else ran');
  });

  it('E2E_REQUIRED=1 (CI): a missing tool is a failure, exit 1', () => {
    const r = runWith({ E2E_REQUIRED: '1' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^e2e: FAILED: kind tests need .*not found on PATH: docker kind kubectl openssl \(E2E_REQUIRED=1\)\n$/);
  });

  it('npm run test:e2e runs it', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['test:e2e'], 'bash test/e2e/kind.sh');
    assert.equal(pkg.scripts['demo'], 'node src/demo/main.ts');
  });
});

describe('.github/workflows/ci.yaml', () => {
  it('unit (node 24, npm ci && npm test) on push and pull_request; e2e after it runs npm run test:e2e with kind, E2E_REQUIRED=1', () => {
    const wf = parse(readFileSync(new URL('../../.github/workflows/ci.yaml', import.meta.url), 'utf8')) as Record<string, any>;
    assert.deepEqual(Object.keys(wf.on).sort(), ['pull_request', 'push']);
    const step = (job: string, pred: (s: Record<string, any>) => boolean) => wf.jobs[job].steps.find(pred);
    assert.equal(wf.jobs.unit['runs-on'], 'ubuntu-latest');
    assert.equal(step('unit', (s) => String(s.uses).startsWith('actions/setup-node@')).with['node-version'], 24);
    assert.ok(step('unit', (s) => s.run === 'npm ci && npm test'));
    assert.equal(wf.jobs.e2e.needs, 'unit');
    assert.equal(wf.jobs.e2e.env.E2E_REQUIRED, '1');
    assert.ok(step('e2e', (s) => /kind version/.test(String(s.run))), 'installs kind');
    assert.ok(step('e2e', (s) => s.run === 'npm ci && npm run test:e2e'), 'npm ci first: the README install runs the kubectl-mtls plugin');
  });
});

describe('test/e2e/local-node.sh and the shared scenario (without a node)', function () {
  this.timeout(60_000);
  const bash = which('bash')!;

  it('parses: bash -n, each file', () => {
    for (const f of [LOCAL, ...SHARED]) execFileSync(bash, ['-n', f]);
  });

  it('kind.sh and local-node.sh run the same scenario file', () => {
    for (const driver of [SCRIPT, LOCAL]) {
      assert.match(readFileSync(driver, 'utf8'), /source "\$ROOT\/test\/e2e\/scenario\.sh"/, driver);
      assert.match(readFileSync(driver, 'utf8'), /^run_scenario$/m, driver);
    }
  });

  it('iproute2 and iptables are installed with the other packages, not required beforehand (a fresh CI machine has neither)', () => {
    const text = readFileSync(LOCAL, 'utf8');
    const check = /^for tool in ([^;]+); do$/m.exec(text);
    assert.ok(check, 'the tool check before the packages phase');
    assert.ok(!/\b(ip|iptables)\b/.test(check[1]!), `checked before they can be installed: ${check[1]}`);
    const need = /^for t in ([^;]+); do command -v/m.exec(text);
    assert.ok(need && /\bip\b/.test(need[1]!) && /\biptables\b/.test(need[1]!), 'a missing ip or iptables triggers the install');
    const install = /apt-get install -y --no-install-recommends ([^>]+)>>/.exec(text.replace(/\\\n\s*/g, ''));
    assert.ok(install, 'the apt-get install line');
    for (const pkg of ['containerd', 'runc', 'containernetworking-plugins', 'podman', 'debootstrap', 'iproute2', 'iptables']) {
      assert.ok(install[1]!.split(/\s+/).includes(pkg), `apt-get installs ${pkg}`);
    }
  });

  describe('one run per bridge (CI failed on "bridge mtlse2e0 exists already" while another run was up)', () => {
    const CLUSTER = SHARED.find((f) => f.endsWith('local-node/cluster.sh'))!;
    const STALE_RULE = '-A PREROUTING -i mtlstest0 -d 10.0.0.1/32 -p tcp -m tcp --dport 443 -m comment --comment "mtls-e2e /tmp/mtls-node.dead" -j DNAT --to-destination 10.244.93.1:41234';
    // cluster.sh's make_bridge with ip and iptables as recording stubs: a bridge is "there" when BRIDGE_THERE=1
    const harness = (dir: string) => `set -Eeuo pipefail
log() { printf '[t] %s\n' "$*"; }
die() { printf 'DIE: %s\n' "$*"; exit 1; }
WORK=${dir}
source ${CLUSTER}
ip() { printf '%q ' ip "$@" >>${dir}/calls; echo >>${dir}/calls; [[ "$1 $2" != "link show" || $BRIDGE_THERE == 1 ]]; }
iptables() {
  printf '%q ' iptables "$@" >>${dir}/calls; echo >>${dir}/calls
  if [[ $* == "-t nat -S PREROUTING" ]]; then
    printf '%s\n' '-P PREROUTING ACCEPT' '${STALE_RULE}' \
      '-A PREROUTING -i other0 -d 10.0.0.1/32 -p tcp -m comment --comment "mtls-e2e /tmp/x" -j DNAT --to-destination 10.1.1.1:1'
  fi
}
make_bridge
echo made`;
    const run = (dir: string, env: Record<string, string>) => {
      writeFileSync(join(dir, 'calls'), '');
      const r = spawnSync(bash, ['-c', harness(dir)], {
        env: { PATH: process.env.PATH, E2E_BRIDGE: 'mtlstest0', E2E_LOCK_DIR: dir, ...env }, encoding: 'utf8', timeout: 30_000,
      });
      return { ...r, calls: readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').map((l) => l.trim()) };
    };

    it('a bridge and DNAT rules left by a killed run are removed (with the lock held); others are not touched', () => {
      const dir = mkdtempSync(join(tmpdir(), 'mtls-e2e-lock-'));
      try {
        const r = run(dir, { BRIDGE_THERE: '1' });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /bridge mtlstest0 is left from a run that did not tear down: removing it/);
        assert.deepEqual(r.calls, [
          'ip link show mtlstest0',
          'ip link del mtlstest0',
          'iptables -t nat -S PREROUTING',
          'iptables -t nat -D PREROUTING -i mtlstest0 -d 10.0.0.1/32 -p tcp -m tcp --dport 443 -m comment --comment mtls-e2e\\ /tmp/mtls-node.dead -j DNAT --to-destination 10.244.93.1:41234',
          'ip link add mtlstest0 type bridge',
          'ip addr add 10.244.93.1/24 dev mtlstest0',
          'ip link set mtlstest0 up',
        ]);
        const clean = run(dir, { BRIDGE_THERE: '0' }); // the lock went with the first shell
        assert.equal(clean.status, 0, clean.stdout + clean.stderr);
        assert.ok(!clean.calls.includes('ip link del mtlstest0'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('while another run holds the bridge, a second waits for it, and fails clearly after E2E_LOCK_WAIT without touching it', () => {
      const dir = mkdtempSync(join(tmpdir(), 'mtls-e2e-lock-'));
      const holder = spawn('flock', [join(dir, 'mtls-e2e-mtlstest0.lock'), 'sleep', '30'], { stdio: 'ignore' });
      try {
        execFileSync(bash, ['-c', `for i in $(seq 50); do flock -n ${dir}/mtls-e2e-mtlstest0.lock true || exit 0; sleep 0.1; done; exit 1`]);
        const r = run(dir, { BRIDGE_THERE: '1', E2E_LOCK_WAIT: '1' });
        assert.equal(r.status, 1);
        assert.match(r.stdout, /another local-node run holds .*mtls-e2e-mtlstest0\.lock \(bridge mtlstest0\): waiting up to 1 s/);
        assert.match(r.stdout, /DIE: another local-node run held .* for more than 1 s \(E2E_LOCK_WAIT\)/);
        assert.deepEqual(r.calls, [''], 'neither the bridge nor the rules were touched');
      } finally {
        holder.kill();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('with nothing on PATH: one line, exit 0 (skipped); with CI=true: a failure, exit 1', function () {
    if (process.getuid?.() !== 0) this.skip(); // not root: it stops earlier, at the root check (same shape)
    const empty = mkdtempSync(join(tmpdir(), 'mtls-e2e-path-'));
    try {
      const r = spawnSync(bash, [LOCAL], { env: { HOME: process.env.HOME, PATH: empty }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 1);
      assert.match(r.stdout, /^local-node e2e: SKIPPED: needs on PATH: kubectl openssl node npm go unshare mount realpath$/m);
      const ci = spawnSync(bash, [LOCAL], { env: { HOME: process.env.HOME, PATH: empty, CI: 'true' }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(ci.status, 1);
      assert.match(ci.stderr, /FAILED: needs on PATH: .*\(CI=true or E2E_REQUIRED=1: no skipping\)/);
      assert.equal(ci.stdout, '');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

/**
 * The README's install section is what the local-node e2e runs, word for word (issue: "followed word for word on
 * the local node"): scenario.sh reads the <!-- e2e:NAME --> blocks from README.md at run time (test/e2e/readme.sh),
 * so the commands cannot drift; these tests pin the blocks, the extraction, and that nothing else installs.
 */
describe('README install section = the e2e install (test/e2e/readme.sh)', function () {
  this.timeout(60_000);
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  // An independent reading of the README: the ```sh block after each marker line, commands only.
  const blocks = (name: string): string[] => {
    const lines = readme.split('\n');
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== `<!-- e2e:${name} -->`) continue;
      assert.equal(lines[i + 1], '```sh', `the line after <!-- e2e:${name} --> (README line ${i + 1}) opens a sh block`);
      for (let j = i + 2; lines[j] !== '```'; j++) {
        assert.ok(j < lines.length, 'the block is closed');
        if (!/^\s*(#|$)/.test(lines[j]!)) out.push(lines[j]!);
      }
    }
    return out;
  };
  const extract = (name: string): string[] => {
    const r = spawnSync('bash', ['-c', `source test/e2e/readme.sh; readme_block ${name}`], { cwd: ROOT, env: { ...process.env, ROOT }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  const command = (line: string) => line.replace(/\s+#.*$/, '');

  it('the install blocks: your own CA (init-root, namespace created), kubectl apply -k deploy/, its rollout, the optional restart RBAC, in that order', () => {
    assert.deepEqual(blocks('install').map(command), [
      'kubectl mtls init-root --from-cert ca.pem --from-key ca-key.pem --create-namespace',
      'kubectl apply -k deploy/',
      'kubectl -n mtls-system rollout status deployment/mtls-operator --timeout=5m',
      'kubectl apply -k deploy/optional/workload-restart/',
    ]);
  });

  it('the try block: examples/ applied, both identities Ready, the server pod (mounting server-mtls) rolled out', () => {
    assert.deepEqual(blocks('try').map(command), [
      'kubectl apply -k examples/',
      'kubectl -n demo wait --for=condition=Ready mutualtlsidentity/server mutualtlsidentity/client --timeout=5m',
      'kubectl -n demo rollout status deployment/server --timeout=5m',
    ]);
  });

  it('readme_block extracts exactly those lines (the e2e runs what the README says)', () => {
    for (const name of ['install', 'try']) assert.deepEqual(extract(name), blocks(name), name);
    assert.deepEqual(extract('no-such-block'), []);
  });

  it('scenario.sh installs only through the README blocks, in order, from a copy of the checkout', () => {
    const scenario = readFileSync(`${ROOT}test/e2e/scenario.sh`, 'utf8');
    const install = scenario.indexOf('run_readme_block install "$INSTALL_DIR"');
    const tryIt = scenario.indexOf('run_readme_block try "$INSTALL_DIR"');
    assert.ok(install > 0 && tryIt > install, 'install, then try');
    const code = scenario.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    assert.doesNotMatch(code, /^\s*kubectl apply -k|\| kubectl apply -k/m, 'no other kustomize apply');
    assert.match(scenario, /cp -R "\$ROOT\/deploy" "\$ROOT\/crds" "\$ROOT\/examples" "\$INSTALL_DIR\/"/);
  });

  it('the drivers put the image on the node under the name deploy/ gives it, and deploy/ and examples/ pull it IfNotPresent', () => {

    const docs = (dir: string) => execFileSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' }).split(/^---$/m).map((d) => parse(d));

    const containers = [...docs('deploy'), ...docs('examples')]
      .filter((o) => o?.spec?.template?.spec?.containers)
      .flatMap((o) => o.spec.template.spec.containers);
    assert.ok(containers.length >= 3);
    const image = containers[0].image as string;
    assert.match(image, /^ghcr\.io\/mtls-dev\/mtls-operator:[0-9][^:]*$/, 'a versioned tag (not latest): IfNotPresent by default');
    for (const c of containers) {
      assert.equal(c.image, image);
      assert.ok(c.imagePullPolicy === undefined || c.imagePullPolicy === 'IfNotPresent', `${c.name}: ${c.imagePullPolicy}`);
    }
    for (const driver of [SCRIPT, LOCAL]) {
      assert.match(readFileSync(driver, 'utf8'), /^DEPLOY_IMAGE=\$\(kubectl kustomize "\$ROOT\/deploy" \| awk '\$1 == "image:" \{ print \$2; exit \}'\)$/m, driver);
    }
    assert.match(readFileSync(LOCAL, 'utf8'), /ctr_ -n k8s\.io images tag --force "docker\.io\/library\/\$IMAGE" "\$DEPLOY_IMAGE"/);
    assert.match(readFileSync(SCRIPT, 'utf8'), /docker build -t "\$IMAGE" -t "\$DEPLOY_IMAGE"/);
  });
});

/** The runtime image (issue: no npm, no shell in the final stage; base pinned by digest in releases). */
describe('Dockerfile: a minimal runtime image', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
  const stages = dockerfile.split('\n').filter((l) => !l.startsWith('#')).join('\n').split(/^(?=FROM )/m).slice(1);

  it('the final stage is FROM scratch: the node binary, its ldd libraries, passwd/group, dist/ and production node_modules; no npm, no shell', () => {
    const last = stages.at(-1)!;
    assert.match(last, /^FROM scratch\n/);
    const copies = [...last.matchAll(/^COPY --from=(\S+) (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(copies, ['rootfs /rootfs/', 'build /src/package.json', 'build /src/node_modules', 'build /src/dist']);
    assert.doesNotMatch(last, /^RUN /m, 'nothing runs in the final stage (there is no shell)');
    assert.match(last, /^USER 65532:65532$/m);
    assert.match(last, /^ENTRYPOINT \["\/usr\/local\/bin\/node", /m);
    const rootfs = stages.find((s) => / AS rootfs$/m.test(s))!;
    assert.match(rootfs, /ldd "\$node"/);
    assert.match(rootfs, /65532:65532/);
    assert.doesNotMatch(rootfs, /npm|\/bin\/(ba)?sh /, 'the runtime root filesystem carries neither npm nor a shell');
  });

  it('the base image is an ARG the release workflow fills with node:24-slim@sha256:<digest>', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-slim$/m);
    for (const s of stages.slice(0, -1)) assert.match(s, /^FROM \$\{NODE_IMAGE\} AS /);
    const wf = parse(readFileSync(`${ROOT}.github/workflows/release.yaml`, 'utf8'));
    const steps = wf.jobs.image.steps as { id?: string; run?: string; with?: Record<string, string> }[];
    const pin = steps.find((s) => s.id === 'base')!;
    assert.match(pin.run!, /imagetools inspect docker\.io\/library\/node:24-slim/);
    assert.match(pin.run!, /\^sha256:\[0-9a-f\]\{64\}\$/, 'refuses anything but a digest');
    const build = steps.find((s) => s.id === 'build')!;
    assert.equal(build.with!['build-args']!.trim(), 'NODE_IMAGE=${{ steps.base.outputs.image }}');
    assert.ok(steps.indexOf(pin) < steps.indexOf(build));
  });

  it('every container of examples/ and of the e2e scenario runs exec form (no shell in the image)', () => {
    for (const f of ['examples/server.yaml', 'examples/client.yaml', 'examples/verify-only-client.yaml']) {
      assert.match(readFileSync(`${ROOT}${f}`, 'utf8'), /command: \["node", "dist\/demo\/main\.js"\]/, f);
    }
    for (const f of ['scenario.sh', 'scenario-rotation.sh', 'scenario-restart.sh']) {
      const text = readFileSync(`${ROOT}test/e2e/${f}`, 'utf8');
      assert.doesNotMatch(text, /command: \[?"?(\/bin\/)?(ba)?sh"?/, f);
      for (const m of text.matchAll(/^\s+command: (.*)$/gm)) assert.match(m[1]!, /^\["node", /, `${f}: ${m[1]}`);
    }
  });
});
