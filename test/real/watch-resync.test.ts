/**
 * Watches on a real kube-apiserver (issue 11, point 3): after the first list the operator's caches never list again
 * on a timer. The periodic resync hands the cache to the controller without a request; the watch stays up, asks for
 * bookmarks, and the apiserver's bookmarks keep its resourceVersion current, so a restarted watch can resume
 * instead of relisting. Requests are read from the apiserver's audit log.
 */
import assert from 'node:assert/strict';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { GROUP, PLURAL, VERSION } from '../../src/api/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { RecordingHandlers, testLogger } from '../adapter/helpers.ts';
import { eventually } from '../support/wait.ts';

describe('real apiserver: watches resync from the cache and keep their place with bookmarks', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let cluster: KubeCluster | undefined;

  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
  });

  after(async () => {
    await cluster?.stop();
  });

  it('lists once, resyncs from the cache on its timer, keeps one watch with allowWatchBookmarks, and receives bookmarks', async () => {
    const ns = await cp.newNamespace('resync');
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: PLURAL, namespace: ns,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: 'web', namespace: ns }, spec: { serviceAccountName: 'web' } },
    });
    const from = cp.audit().length;
    const handlers = new RecordingHandlers();
    cluster = new KubeCluster({
      kubeConfig: cp.kubeConfig, namespaces: [ns], operatorNamespace: ns, caSecretName: 'mtls-root-ca',
      logger: testLogger(), resyncIntervalMs: 1_000,
    });
    await cluster.start(handlers);
    assert.deepEqual(cluster.listIdentities().map((i) => i.metadata.name), ['web']);
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`;
    await eventually('three resyncs', () => handlers.calls.filter((c) => c === 'resynced').length >= 3, 30_000);
    // Changes elsewhere move the apiserver's resourceVersion; the quiet watch learns it from bookmarks (about once a minute).
    const other = await cp.newNamespace('resync-other');
    for (let i = 0; i < 5; i++) {
      await custom.createNamespacedCustomObject({
        group: GROUP, version: VERSION, plural: PLURAL, namespace: other,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: `o${i}`, namespace: other }, spec: { serviceAccountName: 'o' } },
      });
    }
    await eventually('a bookmark on the identities watch', () => (cluster!.stats().bookmarks[`identities/${ns}`] ?? 0) >= 1, 150_000, 500);
    const requests = cp.audit().slice(from).filter((e) => e.stage === 'ResponseStarted' || e.stage === 'ResponseComplete')
      .filter((e) => e.requestURI.startsWith(path));
    const lists = requests.filter((e) => e.verb === 'list' && e.stage === 'ResponseComplete');
    const watches = requests.filter((e) => e.verb === 'watch' && e.stage === 'ResponseStarted');
    assert.equal(lists.length, 1, `one list, at start: ${lists.map((e) => e.requestURI).join(', ')}`);
    assert.equal(watches.length, 1, 'one watch, never aborted for a resync');
    assert.match(watches[0]!.requestURI, /allowWatchBookmarks=true/);
    const stats = cluster.stats();
    assert.equal(stats.relists[`identities/${ns}`], 0);
    assert.ok(stats.resyncs[`identities/${ns}`]! >= 3);
  });
});
