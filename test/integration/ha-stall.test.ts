/**
 * High availability with the default timings (60 s lease, 40 s deadline, 2 s retry) against the
 * fake apiserver, frozen by holding every request and response in the proxies for 30 s, then 45 s.
 * The same tests freeze a real kube-apiserver with SIGSTOP in test/real/ha-stall.test.ts. About
 * three minutes.
 */
import { describeHaStall } from '../support/ha-suites.ts';
import { fakeBackend } from './ha-env.ts';

describeHaStall('high availability: the API server frozen, default timings (fake apiserver)', () => fakeBackend('stall'));
