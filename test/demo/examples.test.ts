/**
 * examples/ as kubectl would apply it (`kubectl kustomize examples/`, parsed with yaml): the
 * identities' SPIFFE-relevant fields, the Secrets the pods mount and where, the restricted pod
 * security, the image; examples/verify-only-client.yaml.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { resolveSpec } from '../../src/api/spec.ts';
import type { MutualTLSIdentity } from '../../src/api/types.ts';
import { namePolicyCheck } from '../../src/controller/policy.ts';
import { CLIENT_ID, SERVER_ID } from './helpers.ts';

type Any = any;
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: Any;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function parse(text: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw d.errors[0];
    return d.toJS() as Obj;
  });
}
const render = (dir: string): Obj[] => parse(execFileSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' }));
const containersOf = (objs: Obj[]) => objs.flatMap((o) => (o.spec?.template?.spec?.containers ?? []) as Any[]);

/** The restricted Pod Security Standard, as far as a pod template shows it. */
function assertRestricted(o: Obj): void {
  const pod = o.spec.template.spec;
  const where = `${o.kind}/${o.metadata.name}`;
  assert.equal(pod.securityContext.runAsNonRoot, true, `${where} runAsNonRoot`);
  assert.ok(pod.securityContext.runAsUser > 0, `${where} runAsUser`);
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' }, `${where} seccomp`);
  assert.equal(pod.automountServiceAccountToken, false, `${where}: no API token`);
  assert.equal(pod.hostNetwork ?? false, false);
  for (const c of pod.containers) {
    const sc = c.securityContext;
    assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name} allowPrivilegeEscalation`);
    assert.equal(sc.readOnlyRootFilesystem, true, `${where}/${c.name} readOnlyRootFilesystem`);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, `${where}/${c.name} capabilities`);
    assert.equal(sc.privileged ?? false, false);
    assert.deepEqual(c.command, ['node', 'dist/demo/main.js'], `${where}/${c.name}: the demo, not the operator entrypoint`);
  }
}

/** The pod's volume mounted at /var/run/mtls (read-only), and its source. */
function mtlsVolume(o: Obj): Any {
  const pod = o.spec.template.spec;
  const [c] = pod.containers;
  const mount = c.volumeMounts.find((m: Any) => m.mountPath === '/var/run/mtls');
  assert.ok(mount, `${o.metadata.name} mounts /var/run/mtls`);
  assert.equal(mount.readOnly, true);
  assert.equal(mount.subPath, undefined, 'no subPath: the kubelet never updates a subPath mount');
  const volume = pod.volumes.find((v: Any) => v.name === mount.name);
  assert.ok(volume);
  return volume;
}

describe('examples/ (kubectl kustomize)', function () {
  this.timeout(60_000);
  let objs: Obj[];
  const find = (kind: string, name: string): Obj => {
    const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `${kind}/${name} rendered`);
    return o;
  };
  const spiffeIdOf = (o: Obj) => resolveSpec(o as unknown as MutualTLSIdentity, { trustDomain: 'cluster.local' });

  before(() => {
    objs = render('examples/');
  });

  it('renders namespace demo (restricted), the service accounts, identities, server, Service and client', () => {
    assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'Deployment/client', 'Deployment/server', 'MutualTLSIdentity/client', 'MutualTLSIdentity/server',
      'Namespace/demo', 'Service/server', 'ServiceAccount/client', 'ServiceAccount/server',
    ]);
    assert.equal(find('Namespace', 'demo').metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const o of objs) assert.equal(o.metadata.namespace, o.kind === 'Namespace' ? undefined : 'demo', `${o.kind}/${o.metadata.name}`);
  });

  it('identities: SPIFFE IDs of the server and client service accounts, the server\'s Service names, default Secret names', () => {
    const server = find('MutualTLSIdentity', 'server');
    const client = find('MutualTLSIdentity', 'client');
    assert.equal(server.apiVersion, 'mtls.dev/v1alpha1');
    assert.equal(server.spec.serviceAccountName, 'server');
    assert.deepEqual(server.spec.dnsNames, ['server.demo.svc', 'server.demo.svc.cluster.local']);
    assert.equal(client.spec.serviceAccountName, 'client');
    assert.equal(client.spec.dnsNames, undefined);
    assert.equal(spiffeIdOf(server).spiffeId, SERVER_ID);
    assert.equal(spiffeIdOf(server).secretName, 'server-mtls');
    assert.equal(spiffeIdOf(client).spiffeId, CLIENT_ID);
    assert.equal(spiffeIdOf(client).secretName, 'client-mtls');
    for (const sa of ['server', 'client']) assert.equal(find('ServiceAccount', sa).automountServiceAccountToken, false);
  });

  it('the name policy admits both identities, and refuses the e2e impostor (payments.prod.svc in demo) with the words the e2e scenario checks', () => {
    const check = namePolicyCheck({ clusterDomain: 'cluster.local', trustDomain: 'cluster.local' }, undefined);
    for (const name of ['server', 'client']) {
      const o = find('MutualTLSIdentity', name) as unknown as MutualTLSIdentity;
      assert.equal(check(o, spiffeIdOf(o as unknown as Obj)), undefined, name);
    }
    const impostor = { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', metadata: { name: 'impostor', namespace: 'demo' }, spec: { serviceAccountName: 'client', dnsNames: ['payments.prod.svc'] } };
    const message = check(impostor as MutualTLSIdentity, resolveSpec(impostor as MutualTLSIdentity, { trustDomain: 'cluster.local' }));
    assert.match(message ?? '', /belongs to namespace "prod"/);
    assert.ok(readFileSync(`${ROOT}test/e2e/scenario.sh`, 'utf8').includes(`*'belongs to namespace "prod"'*`));
  });

  it('server: runs `node dist/demo/main.js server` as SA server, Secret server-mtls read-only at /var/run/mtls, Service 8443', () => {
    const d = find('Deployment', 'server');
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'server');
    const [c] = pod.containers;
    assert.equal(c.args[0], 'server');
    assert.deepEqual(c.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    assert.equal(c.args[c.args.indexOf('--port') + 1], '8443');
    const v = mtlsVolume(d);
    assert.equal(v.secret.secretName, 'server-mtls');
    assert.equal(v.secret.defaultMode, 0o440);
    assert.equal(pod.securityContext.fsGroup, pod.securityContext.runAsGroup, 'the group-readable key is readable by the pod');
    const svc = find('Service', 'server');
    assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 8443, targetPort: 'https', protocol: 'TCP' }]);
    for (const [k, v2] of Object.entries(svc.spec.selector)) assert.equal(d.spec.template.metadata.labels[k], v2, `selector ${k}`);
    assert.ok(existsSync(`${ROOT}src/demo/main.ts`), 'dist/demo/main.js is built from src/demo/main.ts');
  });

  it('client: SA client, Secret client-mtls, calls a name the server certificate holds and expects the server\'s SPIFFE ID', () => {
    const d = find('Deployment', 'client');
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'client');
    const [c] = pod.containers;
    assert.equal(c.args[0], 'client');
    const host = c.args[c.args.indexOf('--host') + 1];
    assert.ok(find('MutualTLSIdentity', 'server').spec.dnsNames.includes(host), `${host} is one of the server's dnsNames`);
    assert.equal(c.args[c.args.indexOf('--port') + 1], '8443');
    assert.equal(c.args[c.args.indexOf('--loop') + 1], '0', 'calls until stopped');
    assert.deepEqual(c.env, [{ name: 'MTLS_EXPECT_SERVER_ID', value: SERVER_ID }]);
    assert.equal(mtlsVolume(d).secret.secretName, 'client-mtls');
  });

  it('every pod meets the restricted Pod Security Standard and runs the operator image deploy/ pins', () => {
    const operatorImage = containersOf(render('deploy/'))[0].image;
    for (const o of objs.filter((x) => x.kind === 'Deployment')) assertRestricted(o);
    for (const c of containersOf(objs)) assert.equal(c.image, operatorImage);
  });

  it('verify-only-client.yaml: a Job that mounts only ca.crt of the ConfigMap mtls-trust-bundle, restricted, same image', () => {
    const [job, ...rest] = parse(readFileSync(`${ROOT}examples/verify-only-client.yaml`, 'utf8'));
    assert.equal(rest.length, 0);
    assert.ok(job);
    assert.equal(job.kind, 'Job');
    assert.equal(job.metadata.namespace, 'demo');
    assert.equal(job.spec.backoffLimit, 0);
    assertRestricted(job);
    const v = mtlsVolume(job);
    assert.deepEqual(v.configMap, { name: 'mtls-trust-bundle', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    assert.ok(!job.spec.template.spec.volumes.some((x: Any) => x.secret), 'no Secret');
    assert.equal(job.spec.template.spec.containers[0].image, containersOf(render('deploy/'))[0].image);
  });

  it('pod-certificate-client.yaml: no Secret anywhere; podCertificate + clusterTrustBundle of mtls.dev/identity give tls.key, tls.crt, ca.crt; restricted, same image', () => {
    const [sa, deployment, ...rest] = parseAllDocuments(readFileSync(`${ROOT}examples/pod-certificate-client.yaml`, 'utf8')).map((d) => d.toJS());
    assert.equal(rest.length, 0);
    assert.deepEqual([sa.kind, sa.metadata.name, deployment.kind, deployment.spec.template.spec.serviceAccountName], ['ServiceAccount', 'podcert', 'Deployment', 'podcert']);
    assertRestricted(deployment);
    const sources = mtlsVolume(deployment).projected.sources;
    assert.deepEqual(sources.map((s: Any) => Object.keys(s)[0]), ['podCertificate', 'clusterTrustBundle']);
    assert.deepEqual(sources[0].podCertificate, { signerName: 'mtls.dev/identity', keyType: 'ECDSAP256', maxExpirationSeconds: 86400, keyPath: 'tls.key', certificateChainPath: 'tls.crt' });
    assert.deepEqual(sources[1].clusterTrustBundle, { signerName: 'mtls.dev/identity', labelSelector: { matchLabels: { 'mtls.dev/trust-domain': 'cluster.local' } }, path: 'ca.crt' });
    assert.ok(!JSON.stringify(deployment).includes('secret'), 'no Secret');
    assert.equal(deployment.spec.template.spec.containers[0].image, containersOf(render('deploy/'))[0].image);
  });

});
