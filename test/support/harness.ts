/** The controller over the in-memory cluster, a fake clock and a real CA. */
import { X509Certificate } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { CA_CRT, TLS_CRT, TLS_KEY, type MutualTLSIdentitySpec, type Secret } from '../../src/api/types.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import type { PodCertificateCluster } from '../../src/cluster/port.ts';
import { Controller, type ControllerConfig } from '../../src/controller/controller.ts';
import type { ControllerObserver } from '../../src/controller/observer.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import type { CAMaterial } from '../../src/pki/types.ts';
import { FakeTime } from './fake-time.ts';

export const CA_NS = 'mtls-system';
export const CA_NAME = 'mtls-root-ca';

export function caSecret(ca: CAMaterial): Secret {
  return {
    metadata: { name: CA_NAME, namespace: CA_NS },
    type: 'kubernetes.io/tls',
    data: { [TLS_CRT]: b64(ca.certPem), [TLS_KEY]: b64(ca.keyPem), [CA_CRT]: b64(ca.bundlePem ?? ca.certPem) },
  };
}

export interface Harness {
  time: FakeTime;
  cluster: MemoryCluster;
  controller: Controller;
  root: CAMaterial;
  /** Wait until every watch notification is delivered and the queue is idle. */
  settle(): Promise<void>;
  /** Advance the fake clock, then settle. */
  advance(ms: number): Promise<void>;
  identity(name: string, spec?: MutualTLSIdentitySpec, namespace?: string): void;
  secret(name: string, namespace?: string): Secret | undefined;
  leaf(name: string, namespace?: string): X509Certificate | undefined;
  stop(): Promise<void>;
}

export async function startHarness(opts: {
  root?: CAMaterial | null;
  config?: Partial<ControllerConfig>;
  logger?: Logger;
  time?: FakeTime;
  cluster?: MemoryCluster;
  observer?: ControllerObserver;
  /** Wait for the first round of reconciles before returning (default true). */
  settle?: boolean;
  /** A pod-certificate port: the signer runs too. */
  pods?: PodCertificateCluster;
} = {}): Promise<Harness> {
  const time = opts.time ?? new FakeTime();
  const cluster = opts.cluster ?? new MemoryCluster({ caNamespace: CA_NS, caName: CA_NAME });
  const root = opts.root === undefined ? await generateRootCA({ now: new Date(time.now() - 86_400_000) }) : opts.root;
  if (root && !cluster.secrets.has(`${CA_NS}/${CA_NAME}`)) cluster.putSecret(caSecret(root));
  const controller = new Controller({
    cluster,
    clock: time,
    timers: time,
    logger: opts.logger ?? silentLogger(),
    ...(opts.observer ? { observer: opts.observer } : {}),
    ...(opts.pods ? { pods: opts.pods } : {}),
    config: {
      trustDomain: 'cluster.local',
      operatorNamespace: CA_NS,
      caSecretName: CA_NAME,
      bootstrapCA: false,
      workers: 4,
      baseBackoffMs: 1000,
      maxBackoffMs: 60_000,
      ...opts.config,
    },
  });
  const settle = async () => {
    for (let quiet = 0; quiet < 3; ) {
      await tick();
      const busy = controller.queue.length > 0 || controller.queue.inFlight > 0;
      if (busy) {
        quiet = 0;
        await controller.idle(1);
      } else quiet++;
    }
  };
  await controller.start();
  if (opts.settle !== false) await settle();
  const h: Harness = {
    time,
    cluster,
    controller,
    root: root!,
    settle,
    async advance(ms) {
      time.advance(ms);
      await settle();
    },
    identity(name, spec = {}, namespace = 'dev') {
      cluster.applyIdentity({ metadata: { name, namespace }, spec });
    },
    secret(name, namespace = 'dev') {
      return cluster.secrets.get(`${namespace}/${name}`);
    },
    leaf(name, namespace = 'dev') {
      const pem = unb64(h.secret(name, namespace)?.data?.[TLS_CRT]);
      return pem ? new X509Certificate(pem) : undefined;
    },
    async stop() {
      await controller.stop(1000);
    },
  };
  return h;
}
