/**
 * What an issued Secret is inspected for as it arrives in the cache (ClusterHandlers.issuedSecretArrived), and against
 * which CAs: Arrivals. Before the CA is loaded, those are the certificates of the CA Secret (tls.crt and ca.crt), of the
 * rotation state's recorded bundles, and of a running rotation's new CA Secret (arrivalCAs), read once when those two
 * caches have synced and before the issued Secrets are listed (ClusterHandlers.trustSynced), so that a restart makes
 * each leaf's verdicts from the parse it already does, and keeps no leaf for later (issue 11: "leaf facts parsed once").
 *
 * Only certificates: no private key is parsed, nothing is generated or written, and nothing is refused here. What
 * signs and what is trusted stays CASource's answer; a verdict is a fact about a leaf and a certificate (did that
 * certificate sign it), true whatever the CA turns out to be. A CA asked later that is not among these is asked then.
 */
import type { X509Certificate } from 'node:crypto';
import { resolveSpec } from '../api/spec.ts';
import { CA_CRT, KIND, TLS_CRT, type Secret } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import { isRunning, recordFromData } from '../decide/rotation.ts';
import { resolveKeystoreSpec, type OutputsSpec } from '../outputs/index.ts';
import { parseCertificates } from '../pki/pem.ts';
import { ROTATION_CONFIGMAP, type CASource } from './ca-source.ts';
import { casToAsk, factsOnArrival } from './leaf-facts.ts';
import { unb64 } from './secret.ts';

export class Arrivals {
  /** What Secrets arriving before the CA is loaded are checked against (prepare). */
  private cas: X509Certificate[] = [];
  private readonly cluster: Cluster;
  private readonly ca: CASource;
  private readonly trustDomain: string;

  constructor(deps: { cluster: Cluster; ca: CASource; trustDomain: string }) {
    this.cluster = deps.cluster;
    this.ca = deps.ca;
    this.trustDomain = deps.trustDomain;
  }

  /**
   * ClusterHandlers.issuedSecretArrived: the facts of a Secret as the cache receives it (leaf-facts.ts), when a
   * reconcile would let the cache drop its key pair anyway: the Secret is the one a live identity names and owns, and
   * that identity has no keystores and no combined PEM (those read the PEMs on every look).
   */
  inspect(secret: Secret): boolean {
    const namespace = secret.metadata.namespace;
    const owner = secret.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === KIND);
    const identity = namespace && owner ? this.cluster.getIdentity(namespace, owner.name) : undefined;
    if (!identity || identity.metadata.uid !== owner?.uid || identity.metadata.deletionTimestamp) return false;
    let secretName: string;
    let outputs: OutputsSpec;
    try {
      secretName = resolveSpec(identity, { trustDomain: this.trustDomain }).secretName;
      outputs = resolveKeystoreSpec(identity.spec);
    } catch {
      return false; // an invalid spec: its reconcile says why, and writes nothing
    }
    if (secretName !== secret.metadata.name || outputs.pkcs12 || outputs.combinedPem) return false;
    const { ca } = this.ca.current();
    return factsOnArrival(this.cluster, `${namespace}/${identity.metadata.name}`, secret, ca ? casToAsk(ca) : this.cas);
  }

  /**
   * ClusterHandlers.trustSynced: the CA certificates the Secrets that arrive before the CA is loaded are checked
   * against, so that their leaves are not parsed again for the first reconcile's verdicts.
   */
  async prepare(): Promise<void> {
    this.cas = await arrivalCAs(this.cluster, this.ca.namespace, this.ca.name);
  }

  /**
   * The start has loaded the CA: from now on a Secret arriving while no CA signs (CANotReady) keeps its leaf for the
   * verdicts of the CA that comes back, as before the first load, rather than being asked about the start's certificates.
   */
  caLoaded(): void {
    this.cas = [];
  }
}

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
