/**
 * PKCS#12 keystores built in a worker thread (issue 19, point 2): the password-based key
 * derivation (PBKDF2 / PKCS#12 KDF, node-forge in JavaScript) takes up to seconds, and on the
 * event loop it stalled every reconcile and /healthz. One short-lived worker per build, killed
 * after KEYSTORE_BUILD_TIMEOUT_MS; the reconciler's worker count bounds how many run at once.
 */
import { Worker } from 'node:worker_threads';
import { KeystoreError, type KeystoreInput, type Keystores } from './pkcs12.ts';

export const KEYSTORE_BUILD_TIMEOUT_MS = 30_000;

// src/*.ts under Node's type stripping, dist/*.js in the image.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './keystore-worker.ts' : './keystore-worker.js', import.meta.url);

type Reply = { ok: true; keystore: Uint8Array; truststore: Uint8Array } | { ok: false; name: string; message: string };

export function buildKeystoresOffThread(input: KeystoreInput, timeoutMs = KEYSTORE_BUILD_TIMEOUT_MS): Promise<Keystores> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: input });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(new KeystoreError(`building the keystores took longer than ${timeoutMs} ms`))), timeoutMs);
    worker.once('message', (reply: Reply) => finish(() => {
      if (reply.ok) resolve({ keystore: Buffer.from(reply.keystore), truststore: Buffer.from(reply.truststore) });
      else reject(reply.name === 'KeystoreError' ? new KeystoreError(reply.message) : new Error(reply.message));
    }));
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new Error(`keystore worker exited with code ${code}`))));
  });
}
