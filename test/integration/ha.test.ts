/**
 * High availability, process level, against the fake apiserver: two and three operator processes
 * (frozen leader, SIGKILL, graceful stop) with short timings. The same tests run against a real
 * kube-apiserver in test/real/ha.test.ts. About two minutes.
 */
import { describeHa } from '../support/ha-suites.ts';
import { fakeBackend } from './ha-env.ts';

describeHa('high availability: operator processes (fake apiserver)', () => fakeBackend('ha'));
