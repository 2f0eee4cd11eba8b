/**
 * Which CAs an issued Secret is checked against as it arrives (ClusterHandlers.issuedSecretArrived), before the
 * CA is loaded: the certificates of the CA Secret (tls.crt and ca.crt), of the rotation state's recorded bundles,
 * and of a running rotation's new CA Secret. They are read once, when those two caches have synced and before the
 * issued Secrets are listed (ClusterHandlers.trustSynced), so that a restart makes each leaf's verdicts from the
 * parse it already does, and keeps no leaf for later (issue 11: "leaf facts parsed once").
 *
 * Only certificates: no private key is parsed, nothing is generated or written, and nothing is refused here. What
 * signs and what is trusted stays CASource's answer; a verdict is a fact about a leaf and a certificate (did that
 * certificate sign it), true whatever the CA turns out to be. A CA asked later that is not among these is asked then.
 */
import type { X509Certificate } from 'node:crypto';
import { CA_CRT, TLS_CRT } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import { isRunning, recordFromData } from '../decide/rotation.ts';
import { parseCertificates } from '../pki/pem.ts';
import { ROTATION_CONFIGMAP } from './ca-source.ts';
import { unb64 } from './secret.ts';

/** The certificates found, one per fingerprint; none when nothing is there yet (a first install) or nothing parses. */
export async function arrivalCAs(cluster: Cluster, namespace: string, caSecretName: string): Promise<X509Certificate[]> {
  const pems: (string | undefined)[] = [];
  const fromSecret = async (name: string): Promise<void> => {
    const s = await cluster.getSecret(namespace, name).catch(() => undefined);
    pems.push(unb64(s?.data?.[TLS_CRT]), unb64(s?.data?.[CA_CRT]));
  };
  await fromSecret(caSecretName);
  const record = recordFromData(cluster.getConfigMap(namespace, ROTATION_CONFIGMAP)?.data);
  pems.push(record.caBundlePem, record.rotation?.oldBundlePem, record.rotation?.newBundlePem);
  const r = record.rotation;
  if (isRunning(r) && r!.newRootSecret !== caSecretName) await fromSecret(r!.newRootSecret);
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    const parsed = parseCertificates(pem, 'CA certificates');
    // Every certificate, as casToAsk asks (a root without the CA flag, a version 1 root, is still asked about there).
    for (const c of parsed.ok ? parsed.certs : []) if (!out.some((k) => k.fingerprint256 === c.fingerprint256)) out.push(c);
  }
  return out;
}
