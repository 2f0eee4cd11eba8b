/**
 * The CRD and deploy/ on a real kube-apiserver: crds/ installs and becomes Established; the CRD's OpenAPI + CEL validation
 * gives, over the same table of specs as the cel-js tests (test/api/crd-cases.ts), the verdicts and messages the table
 * states and resolveSpec agrees with; defaults are filled in as resolveSpec fills them; and the whole rendered deploy/
 * is applied for real, the ValidatingAdmissionPolicy enforced over the name-policy table with the operator's messages.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ApiException, CoreV1Api, CustomObjectsApi, type V1PodSpec } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { MESSAGES, resolveSpec } from '../../src/api/spec.ts';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { checkNames, type NamePolicyConfig } from '../../src/policy/names.ts';
import { CRD_CASES, FULL_SPEC, backstop, identityWith } from '../api/crd-cases.ts';
import { CASES, paramData, type Case } from '../policy/cases.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually, sleep } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The API server's refusals of a create as `<field>: <message>` (CEL's `Invalid value: "<type>": ` prefix removed). */
function refusals(err: unknown): string[] {
  if (!(err instanceof ApiException)) throw err;
  const status = JSON.parse(String(err.body)) as { code: number; message: string; details?: { causes?: { field?: string; message: string }[] } };
  assert.equal(status.code, 422, status.message);
  // A CEL rule's message comes as `Invalid value: <message>`, or `Invalid value: "<type or value>": <message>`.
  return (status.details?.causes ?? []).map((c) => `${c.field}: ${c.message.replace(/^Invalid value: ("[^"]*": )?/, '')}`);
}

describe('real apiserver: crds/', function () {
  let cp: ControlPlane;
  let custom: CustomObjectsApi;
  let ns: string;

  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    ns = await cp.newNamespace('crd');
  });

  it('installs every manifest in crds/ (kubectl apply -f crds/) and serves the short names and printer columns', async () => {
    const res = await cp.kubectl(['apply', '-f', `${ROOT}crds/`]);
    assert.equal(res.code, 0, res.stderr);
    const names = await cp.kubectl(['api-resources', '--api-group', GROUP, '-o', 'wide']);
    assert.match(names.stdout, /mutualtlsidentities\s+mtlsid,mtls\s+mtls\.dev\/v1alpha1\s+true\s+MutualTLSIdentity/);
    const shown = identityWith({}, 'shown');
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, body: { ...shown, metadata: { ...shown.metadata, namespace: ns } } });
    const table = await cp.kubectl(['get', 'mtls', '-n', ns]);
    assert.match(table.stdout.split('\n')[0]!, /^NAME\s+READY\s+SECRET\s+EXPIRES\s+RENEWAL\s+AGE/);
  });

  const create = (object: MutualTLSIdentity) =>
    custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, dryRun: 'All',
      body: { ...object, metadata: { ...object.metadata, namespace: ns } },
    }) as Promise<MutualTLSIdentity>;

  for (const c of CRD_CASES) {
    it(`the server's verdict on ${c.title}: ${c.want.length === 0 ? 'accepted' : 'refused'}, as the table and resolveSpec say`, async () => {
      const object = identityWith(c.spec, c.name);
      let got: string[] = [];
      let stored: MutualTLSIdentity | undefined;
      try {
        stored = await create(object);
      } catch (err) {
        got = refusals(err);
      }
      assert.deepEqual([...got].sort(), [...c.want].sort());
      const b = backstop(object);
      if (c.want.length === 0 || c.backstop === false) assert.equal(b, undefined, b);
      else assert.ok(got.includes(b!), `resolveSpec said ${b}; the server said ${JSON.stringify(got)}`);
      if (stored) {
        // The server's defaults resolve to what resolveSpec fills in by itself.
        const naming = { trustDomain: 'cluster.local' };
        assert.deepEqual(resolveSpec({ ...stored, metadata: object.metadata }, naming), resolveSpec(object, naming));
      }
    });
  }

  it('renewBefore "0" (Go reads it as 0s; cel-js cannot): the server refuses it with the operator\'s message', async () => {
    await assert.rejects(create(identityWith({ renewBefore: '0' })), (err) => {
      assert.deepEqual(refusals(err), [`spec.renewBefore: ${MESSAGES.renewBeforePositive}`]);
      return true;
    });
    assert.equal(backstop(identityWith({ renewBefore: '0' })), `spec.renewBefore: ${MESSAGES.renewBeforePositive}`);
  });

  it('stores the full spec unchanged (nothing pruned)', async () => {
    const stored = await create(identityWith(FULL_SPEC, 'full'));
    assert.deepEqual(stored.spec, FULL_SPEC);
  });
});

describe('real apiserver: deploy/ applied for real', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let rendered: { kind: string; metadata: { name: string; namespace?: string } }[];

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const out = await cp.kubectl(['kustomize', `${ROOT}deploy/`]);
    assert.equal(out.code, 0, out.stderr);
    rendered = parseAllDocuments(out.stdout).map((d) => d.toJS());
  });

  after(async () => {
    // Later test files start without the cluster-wide admission binding; they install what they need.
    await cp?.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
  });

  it('kubectl apply -k deploy/ creates every object, the Deployment admitted under pod-security enforce=restricted', async () => {
    const res = await cp.kubectl(['apply', '-k', `${ROOT}deploy/`]);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.doesNotMatch(res.stderr, /Warning: would violate PodSecurity/);
    const kinds = rendered.map((o) => o.kind).sort();
    for (const k of ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'Deployment', 'Namespace',
      'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']) {
      assert.ok(kinds.includes(k), `deploy/ renders a ${k}`);
    }
    for (const o of rendered) {
      const args = ['get', o.kind, o.metadata.name, '-o', 'name', ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])];
      const got = await cp.kubectl(args);
      assert.equal(got.code, 0, `${o.kind} ${o.metadata.name} is on the server: ${got.stderr}`);
    }
    const ns = await core.readNamespace({ name: 'mtls-system' });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    // A server-side dry run of the Deployment's pod under the namespace's restricted policy: admitted.
    const dep = rendered.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: V1PodSpec } } };
    await core.createNamespacedPod({ namespace: 'mtls-system', dryRun: 'All', body: { metadata: { name: 'pss-probe' }, spec: dep.spec.template.spec } });
    // …while a privileged pod is refused there: the label is enforced, not decoration.
    await assert.rejects(
      core.createNamespacedPod({ namespace: 'mtls-system', dryRun: 'All', body: {
        metadata: { name: 'pss-refused' },
        spec: { serviceAccountName: 'mtls-operator', containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] } } }),
      (err: unknown) => err instanceof ApiException && err.code === 403 && /violates PodSecurity .*restricted/.test(JSON.parse(String(err.body)).message),
    );
  });

  it('the optional parts render and apply too (monitoring needs the Prometheus Operator CRDs: server-side dry run only refuses their kinds)', async () => {
    const wr = await cp.kubectl(['apply', '-k', `${ROOT}deploy/optional/workload-restart`]);
    assert.equal(wr.code, 0, wr.stderr);
    const mon = await cp.kubectl(['apply', '--dry-run=server', '-k', `${ROOT}deploy/monitoring`]);
    // Without the Prometheus Operator the kinds are unknown to this server: say so rather than pretend.
    assert.match(`${mon.stdout}${mon.stderr}`, /(ServiceMonitor|PrometheusRule)/);
  });

  describe('the ValidatingAdmissionPolicy, enforced by the server over the name-policy table', () => {
    const configOf = (c: Case): NamePolicyConfig => ({ clusterDomain: c.clusterDomain ?? 'cluster.local', allow: c.allow ?? [] });
    const groups = new Map<string, Case[]>();
    for (const c of CASES.filter((x) => x.admission)) {
      const key = JSON.stringify(paramData(configOf(c)));
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    const specOf = (c: Case) => ({
      ...(c.req.dnsNames.length > 0 ? { dnsNames: c.req.dnsNames } : {}),
      ...(c.req.ipAddresses.length > 0 ? { ipAddresses: c.req.ipAddresses } : {}),
      ...(c.req.commonName !== undefined ? { commonName: c.req.commonName } : {}),
    });

    /**
     * The server's verdict: undefined (admitted), the policy's message, or `schema: …` when the CRD's own validation
     * refused the spec before admission ran (the cel-js table cannot know that order; the server decides it).
     */
    const verdict = async (c: Case): Promise<string | undefined> => {
      try {
        await custom.createNamespacedCustomObject({
          group: GROUP, version: VERSION, namespace: c.req.namespace, plural: PLURAL, dryRun: 'All',
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: 'id' }, spec: specOf(c) },
        });
        return undefined;
      } catch (err) {
        if (!(err instanceof ApiException)) throw err;
        const body = JSON.parse(String(err.body)) as { code: number; message: string };
        if (body.code === 422) return `schema: ${body.message}`;
        assert.equal(body.code, 403, body.message);
        const m = /denied request: (.*)$/s.exec(body.message);
        assert.ok(m, body.message);
        return m[1];
      }
    };
    const schemaRefused = new Set<string>();

    for (const [key, cases] of groups) {
      it(`params ${key}: ${cases.length} cases, the server's verdict and message equal the operator's`, async function () {
        this.timeout(180_000);
        for (const nsName of new Set(cases.map((c) => c.req.namespace))) {
          await core.createNamespace({ body: { metadata: { name: nsName } } }).catch((e) => {
            if (!(e instanceof ApiException && e.code === 409)) throw e;
          });
        }
        await core.patchNamespacedConfigMap({ name: 'mtls-name-policy', namespace: 'mtls-system', body: [
          { op: 'replace', path: '/data', value: JSON.parse(key) },
        ] });
        // The policy reads its params through an informer: wait until every case gets the operator's verdict.
        await eventually(`the server agrees with the operator on ${cases.length} cases`, async () => {
          const wrong: string[] = [];
          for (const c of cases) {
            const want = checkNames(c.req, configOf(c))?.message;
            const got = await verdict(c);
            if (got?.startsWith('schema: ') && want !== undefined) {
              schemaRefused.add(c.title); // refused either way: by the CRD's schema first, as the operator refuses it
              continue;
            }
            if (got !== want) wrong.push(`${c.title}: server ${JSON.stringify(got)}, operator ${JSON.stringify(want)}`);
          }
          if (wrong.length > 0) throw new Error(wrong.slice(0, 5).join('\n'));
          return true;
        }, 30_000, 1_000);
      });
    }

    it('cases the CRD schema refuses before admission are few, and each is refused by the operator too', () => {
      // Reported, not hidden: these never reach the policy on a real server (e.g. a lone "*" is not a DNS name).
      if (schemaRefused.size > 0) process.stdout.write(`      (refused by the CRD schema before admission: ${[...schemaRefused].join('; ')})\n`);
      assert.ok(schemaRefused.size < 10, [...schemaRefused].join('\n'));
    });

    it('with the param ConfigMap gone the policy fails closed', async function () {
      this.timeout(120_000);
      await core.deleteNamespacedConfigMap({ name: 'mtls-name-policy', namespace: 'mtls-system' });
      await core.createNamespace({ body: { metadata: { name: 'dev' } } }).catch(() => undefined);
      const message = await eventually('refused without params', async () => {
        try {
          await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'dev', plural: PLURAL, dryRun: 'All',
            body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: 'id' }, spec: { dnsNames: ['api.dev.svc'] } } });
          return false;
        } catch (err) {
          if (!(err instanceof ApiException)) throw err;
          const m = (JSON.parse(String(err.body)) as { message: string }).message;
          return `${err.code} ${m}`;
        }
      }, 60_000, 500);
      // The server answers this refusal with its own code (not the policy's Forbidden): the binding cannot be configured.
      assert.match(message, /^4\d\d .*ValidatingAdmissionPolicy 'mtls-name-policy' .*denied request: failed to configure binding: no params found/);
      process.stdout.write(`      (the server's answer without params: ${message.slice(0, 3)})\n`);
      const res = await cp.kubectl(['apply', '-k', `${ROOT}deploy/admission`]);
      assert.equal(res.code, 0, res.stderr);
      await sleep(0);
    });
  });
});
