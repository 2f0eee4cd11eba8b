/** Runs in a worker thread: one PKCS#12 build (the password KDF) off the operator's event loop. */
import { parentPort, workerData } from 'node:worker_threads';
import { buildKeystores, type KeystoreInput } from './pkcs12.ts';

try {
  const { keystore, truststore } = buildKeystores(workerData as KeystoreInput);
  parentPort!.postMessage({ ok: true, keystore, truststore });
} catch (err) {
  parentPort!.postMessage({ ok: false, name: (err as Error).name, message: (err as Error).message });
}
