/**
 * helm for the chart tests: built from the Go module proxy by test/tools/helm.sh into
 * ~/.cache/mtls-operator/tools (outside the clone). Without Go and without a built helm the
 * chart tests skip with one line, except where they are required (CI=true or
 * MTLS_REQUIRE_CONTROLPLANE=1), where that is a failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

let cached: string | undefined | null = null;

/** helm template renders for this Kubernetes version (the chart's kubeVersion is >= 1.31; helm's default is older). */
export const KUBE_VERSION = '1.37.0';

/** The helm binary's path, building it once; undefined: cannot be had here. */
export function helmPath(): string | undefined {
  if (cached !== null) return cached;
  const r = spawnSync('bash', ['test/tools/helm.sh', '--path'], { encoding: 'utf8', timeout: 1_500_000 });
  cached = r.status === 0 ? r.stdout.trim() : undefined;
  if (!cached) {
    const why = `helm cannot be built here (test/tools/helm.sh: ${r.stderr.trim().split('\n').pop()})`;
    if (process.env.CI === 'true' || process.env.MTLS_REQUIRE_CONTROLPLANE === '1') throw new Error(why);
    process.stdout.write(`chart tests skipped: ${why}\n`);
  }
  return cached;
}

export function helm(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(helmPath()!, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: unknown };

export function objects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export const keyOf = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The chart rendered with these extra arguments (--set ...), into namespace ns. */
export function render(extra: string[] = [], ns = 'mtls-system', chart = 'charts/mtls-operator'): K8sObject[] {
  const r = helm(['template', 'mtls-operator', chart, '--namespace', ns, '--kube-version', KUBE_VERSION, ...extra]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return objects(r.stdout);
}

export function kustomize(dir: string): K8sObject[] {
  return objects(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));
}
