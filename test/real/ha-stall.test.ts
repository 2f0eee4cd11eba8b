/**
 * High availability on a real kube-apiserver with the DEFAULT leader-election timings (60 s lease,
 * 40 s renew deadline, 2 s retry): the kube-apiserver process itself is frozen (SIGSTOP) for 30 s,
 * then for 45 s, and thawed (SIGCONT). Two operator processes. About three minutes.
 */
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { describeHaStall } from '../support/ha-suites.ts';
import { realBackend } from './ha-env.ts';

describe('real apiserver: high availability when the apiserver freezes', function () {
  let cp: ControlPlane;
  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
  });
  describeHaStall('kube-apiserver frozen (SIGSTOP), default timings', () => realBackend(cp, 'stall'));
});
