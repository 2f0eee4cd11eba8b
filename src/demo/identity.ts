/**
 * A mounted identity: the files of an mtls-operator Secret (tls.crt, tls.key, ca.crt) in one
 * directory, default /var/run/mtls (env MTLS_DIR), and how to notice that the kubelet replaced
 * them after a renewal.
 *
 * The kubelet writes a mounted Secret atomically: the files are symlinks into `..data`, itself a
 * symlink to a timestamped directory, and an update writes a new directory and renames a new
 * `..data` over the old one. Watching the directory sees that rename; re-reading the files on an
 * interval as well covers file systems where watching is not possible. Either way the reader
 * compares contents, so a spurious wake-up costs one read.
 */
import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_DIR = '/var/run/mtls';
export const TLS_CRT = 'tls.crt';
export const TLS_KEY = 'tls.key';
export const CA_CRT = 'ca.crt';

export interface Identity {
  dir: string;
  /** Leaf then chain (tls.crt); absent for a verify-only mount (trust bundle ConfigMap). */
  certPem?: string;
  keyPem?: string;
  /** The trust bundle (ca.crt). */
  caPem: string;
  /** The SPIFFE ID of the leaf (its URI SAN), when there is a leaf. */
  spiffeId?: string;
  /** Lowercase hex, as the Secret's mtls.dev/serial annotation. */
  serial?: string;
  notAfter?: string;
}

export function identityDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MTLS_DIR || DEFAULT_DIR;
}

/** The first spiffe:// URI of a subjectAltName as node prints it ("URI:spiffe://..., DNS:x"). */
export function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  for (const entry of (subjectAltName ?? '').split(', ')) {
    if (!entry.startsWith('URI:')) continue;
    let uri = entry.slice(4);
    if (uri.startsWith('"')) {
      try {
        uri = JSON.parse(uri) as string; // node quotes values with special characters
      } catch {
        continue;
      }
    }
    if (uri.startsWith('spiffe://')) return uri;
  }
  return undefined;
}

/** SPIFFE ID, serial and expiry of the first certificate of a PEM chain. */
export function certFacts(certPem: string): { spiffeId?: string; serial: string; notAfter: string } {
  const leaf = new X509Certificate(certPem);
  const spiffeId = spiffeIdOf(leaf.subjectAltName);
  return {
    ...(spiffeId ? { spiffeId } : {}),
    serial: leaf.serialNumber.toLowerCase(),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Reads the identity in `dir`. ca.crt is always required; tls.crt and tls.key go together and
 * are required unless `certOptional` (a client that only verifies the server).
 */
export async function readIdentity(dir: string, opts: { certOptional?: boolean } = {}): Promise<Identity> {
  const [certPem, keyPem, caPem] = await Promise.all([TLS_CRT, TLS_KEY, CA_CRT].map((f) => readOptional(join(dir, f))));
  const missing = (f: string) => new Error(`${join(dir, f)} not found: mount the identity's Secret (or the mtls-trust-bundle ConfigMap) at ${dir}, or set MTLS_DIR`);
  if (!caPem) throw missing(CA_CRT);
  if (!certPem && !keyPem && opts.certOptional) return { dir, caPem };
  if (!certPem) throw missing(TLS_CRT);
  if (!keyPem) throw missing(TLS_KEY);
  let facts: ReturnType<typeof certFacts>;
  try {
    facts = certFacts(certPem);
  } catch (err) {
    throw new Error(`${join(dir, TLS_CRT)} is not a PEM certificate: ${(err as Error).message}`);
  }
  return { dir, certPem, keyPem, caPem, ...facts };
}

/** Whether two reads found the same files. */
export function sameFiles(a: Identity, b: Identity): boolean {
  return a.certPem === b.certPem && a.keyPem === b.keyPem && a.caPem === b.caPem;
}

/**
 * Calls `onChange` (debounced) when anything in `dir` changes, and every `intervalMs` in any
 * case. Returns a function that stops watching.
 */
export function watchDir(dir: string, intervalMs: number, onChange: (trigger: 'watch' | 'interval') => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => onChange('watch'), 100);
    });
    watcher.on('error', () => watcher?.close()); // the interval still runs
  } catch {
    watcher = undefined; // no inotify here: the interval alone
  }
  const poll = setInterval(() => onChange('interval'), intervalMs);
  poll.unref();
  return () => {
    clearTimeout(timer);
    clearInterval(poll);
    watcher?.close();
  };
}
