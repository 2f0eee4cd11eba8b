/** Fixtures for the output tests: a CA chain, leaves of each key type, and keytool/openssl/java runners. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssuedCertificate, KeyParams, SigningCA } from '../../src/pki/index.ts';
import { generateIntermediateCA, generateRootCA, issueLeaf, loadSigningCA } from '../../src/pki/index.ts';

export const NOW = new Date();
export const RSA2048: KeyParams = { algorithm: 'RSA', size: 2048 };
export const P256: KeyParams = { algorithm: 'ECDSA', size: 256 };
export const ED25519: KeyParams = { algorithm: 'Ed25519', size: 0 };

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, input: input ?? '' });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function hasTool(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 }).status === 0;
  } catch {
    return false;
  }
}

export const keytool = (...args: string[]): Run => run('keytool', args);
export const openssl = (...args: string[]): Run => run('openssl', args);

/** A temp dir; `file` writes into it. */
export function tempDir(prefix = 'mtls-outputs-test-'): { dir: string; file: (name: string, content: string | Buffer) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file: (name, content) => {
      const p = join(dir, name);
      writeFileSync(p, content, { mode: 0o600 });
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Chain {
  root: SigningCA;
  intermediate: SigningCA;
  /** A second, unrelated root (for bundles of two during a rotation). */
  otherRootPem: string;
}

export async function chain(): Promise<Chain> {
  const root = await loadSigningCA(await generateRootCA({ now: NOW, commonName: 'outputs test root' }), NOW);
  const intermediate = await loadSigningCA(
    await generateIntermediateCA(root, { commonName: 'outputs test intermediate', validityDays: 30, now: NOW }),
    NOW,
  );
  const other = await generateRootCA({ now: NOW, commonName: 'outputs test next root' });
  return { root, intermediate, otherRootPem: other.certPem };
}

export function leaf(ca: SigningCA, key: KeyParams): Promise<IssuedCertificate> {
  return issueLeaf(ca, {
    dnsNames: ['app.team-a.svc'],
    ipAddresses: [],
    uris: ['spiffe://cluster.local/ns/team-a/sa/app'],
    durationMs: 24 * 3_600_000,
    usages: key.algorithm === 'RSA' ? ['digital signature', 'key encipherment', 'server auth', 'client auth'] : ['digital signature', 'server auth', 'client auth'],
    key,
    encoding: 'PKCS8',
    now: NOW,
  });
}
