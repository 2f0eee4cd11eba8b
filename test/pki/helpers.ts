/** Shared fixtures for the PKI tests: CAs of every key type, openssl, temp files, DER access. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyParams, LeafRequest, SigningCA } from '../../src/pki/index.ts';
import { generateIntermediateCA, generateRootCA, loadSigningCA } from '../../src/pki/index.ts';
import { pemBlocks, toPem } from '../../src/pki/pem.ts';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const P256: KeyParams = { algorithm: 'ECDSA', size: 256 };
export const P384: KeyParams = { algorithm: 'ECDSA', size: 384 };
export const ED25519: KeyParams = { algorithm: 'Ed25519', size: 0 };
export const RSA2048: KeyParams = { algorithm: 'RSA', size: 2048 };

export function label(k: KeyParams): string {
  return k.algorithm === 'Ed25519' ? 'Ed25519' : `${k.algorithm}-${k.size}`;
}

export interface OpensslResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs openssl; never rejects on a non-zero exit (the result says). */
export function openssl(args: string[], input?: string, timeoutMs = 15_000): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => {}); // openssl may exit before reading stdin (EPIPE)
    child.stdin?.end(input ?? '');
  });
}

/** A temp dir for one suite; `file` writes into it, `cleanup` removes it. */
export async function tempDir(): Promise<{ dir: string; file: (name: string, text: string) => Promise<string>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mtls-pki-test-'));
  return {
    dir,
    file: async (name, text) => {
      const p = join(dir, name);
      await writeFile(p, text, { mode: 0o600 });
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Splits a PEM bundle into single-certificate PEMs. */
export function splitPem(text: string): string[] {
  return pemBlocks(text).map((b) => toPem(b.der, b.label));
}

export interface CAFixture {
  name: string;
  ca: SigningCA;
  /** The self-signed root: what peers trust. */
  rootPem: string;
}

const cache = new Map<string, Promise<CAFixture>>();

/** A root CA with the given key type, loaded (memoised per key type). */
export function rootCA(key: KeyParams = P256): Promise<CAFixture> {
  const id = `root ${label(key)}`;
  let f = cache.get(id);
  if (!f) {
    f = (async () => {
      const m = await generateRootCA({ commonName: `Test Root ${label(key)}`, now: NOW, key });
      return { name: id, ca: await loadSigningCA(m, NOW), rootPem: m.certPem };
    })();
    cache.set(id, f);
  }
  return f;
}

/** An intermediate (P-256 unless `key`) under rootCA(rootKey), loaded (memoised). */
export function intermediateCA(key: KeyParams = P256, rootKey: KeyParams = P256): Promise<CAFixture> {
  const id = `intermediate ${label(key)} under ${label(rootKey)}`;
  let f = cache.get(id);
  if (!f) {
    f = (async () => {
      const root = await rootCA(rootKey);
      const m = await generateIntermediateCA(root.ca, {
        commonName: `Test Intermediate ${label(key)}`,
        validityDays: 365,
        now: NOW,
        pathLength: 0,
        key,
      });
      return { name: id, ca: await loadSigningCA(m, NOW), rootPem: root.rootPem };
    })();
    cache.set(id, f);
  }
  return f;
}

export function leafRequest(overrides: Partial<LeafRequest> = {}): LeafRequest {
  return {
    dnsNames: ['web.prod.svc', 'web.prod.svc.cluster.local'],
    ipAddresses: ['10.1.2.3', '2001:db8::7'],
    uris: ['spiffe://cluster.local/ns/prod/sa/web'],
    durationMs: 24 * HOUR,
    usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
    key: P256,
    encoding: 'PKCS8',
    now: NOW,
    ...overrides,
  };
}

/**
 * openssl verify -x509_strict of a leaf (first cert of certChainPem) with the rest as the
 * untrusted chain, at time `at` (default NOW + 1 hour: the fixtures live at NOW, not today).
 */
export async function opensslVerify(
  tmp: Awaited<ReturnType<typeof tempDir>>,
  id: string,
  certChainPem: string,
  rootPem: string,
  purpose: 'sslserver' | 'sslclient',
  extra: string[] = [],
  at: Date = new Date(NOW.getTime() + HOUR),
): Promise<OpensslResult> {
  const [leaf = '', ...chain] = splitPem(certChainPem);
  const leafFile = await tmp.file(`${id}-leaf.pem`, leaf);
  const rootFile = await tmp.file(`${id}-root.pem`, rootPem);
  const attime = String(Math.floor(at.getTime() / 1000));
  const args = ['verify', '-x509_strict', '-purpose', purpose, '-attime', attime, '-CAfile', rootFile, ...extra];
  if (chain.length) args.push('-untrusted', await tmp.file(`${id}-chain.pem`, chain.join('')));
  return openssl([...args, leafFile]);
}
