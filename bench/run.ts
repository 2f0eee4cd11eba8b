/**
 * `npm run bench`: the issuance engine (certificates per second, one at a time) and the
 * controller over the in-memory cluster at 1,000 and 10,000 identities. Figures go in README.md.
 *
 * The controller runs compiled (tsc, as in the image: Node's type stripping alone costs ~35 MB
 * of RSS) in a fresh process per size, with the V8 flags of deploy/deployment.yaml, so peak RSS
 * is the operator's and not the benchmark's. Run it with nothing else busy: two cores.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPkiBench } from './pki.ts';

export const PRODUCTION_NODE_OPTIONS = ['--max-semi-space-size=4', '--max-old-space-size=256'];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const engine = await runPkiBench();
const width = Math.max(...engine.map((r) => r.name.length));
console.log('Issuance engine (CA: ECDSA P-256), certificates per second, sequential:');
for (const r of engine) console.log(`  ${r.name.padEnd(width)}  ${r.perSecond.toFixed(0).padStart(6)}`);

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.bench.json')], { stdio: 'inherit' });
console.log(`\nController over the in-memory cluster (8 workers; node ${PRODUCTION_NODE_OPTIONS.join(' ')}):`);
for (const n of [1000, 10_000]) {
  const out = execFileSync(process.execPath, [...PRODUCTION_NODE_OPTIONS, join(root, '.bench-build/bench/controller.js'), String(n)], { encoding: 'utf8' });
  console.log(`  ${out.trim()}`);
}
console.log('\nThe operator process against a fake API server over HTTP (client-node, watches, apply):');
for (const n of [1000, 10_000]) {
  const out = execFileSync(process.execPath, [join(root, 'bench/process.ts'), String(n), ...PRODUCTION_NODE_OPTIONS], { encoding: 'utf8' });
  console.log(`  ${out.trim()}`);
}
