/**
 * High availability on a real kube-apiserver: two and three operator processes with short timings
 * (6 s lease, 4 s deadline, 1 s retry): the leader frozen (SIGSTOP) mid-issuance past its lease and
 * resumed writes nothing; SIGKILL; graceful stop. Each process talks through a recording proxy
 * (test/support/ha.ts), so every write is attributed. About two and a half minutes.
 */
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { describeHa } from '../support/ha-suites.ts';
import { realBackend } from './ha-env.ts';

describe('real apiserver: high availability', function () {
  let cp: ControlPlane;
  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
  });
  describeHa('operator processes (real kube-apiserver)', () => realBackend(cp, 'ha'));
});
