/**
 * Mocha root hooks (.mocharc.json `require`): the shared real control plane (./controlplane.ts), started by the first
 * test file that asks for it, is stopped once after all tests, passed or failed.
 */
import { stopControlPlane } from './controlplane.ts';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopControlPlane();
  },
};
