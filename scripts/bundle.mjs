// `npm run bundle`: the operator as the image runs it, one ES module per entry point in dist/bundle/ (issue 11:
// memory). esbuild bundles src/main.ts and the keystore worker with every dependency, tree-shaken (client-node's
// generated API surface is mostly unused) and minified in whitespace and syntax, names kept, so a stack trace still
// names its functions. No source maps: V8 keeps every loaded module's source text, and source maps on top of it;
// the bundle halves both (README, "Measured figures").
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --outdir=DIR (relative to the checkout): where the tests build it; the image and the bench use dist/bundle.
const outdir = process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) ?? 'dist/bundle';
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts', 'keystore-worker': 'src/outputs/keystore-worker.ts' },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  // CommonJS dependencies (winston, node-forge, prom-client) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __mtlsRequire } from 'node:module'; const require = __mtlsRequire(import.meta.url);" },
});
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  process.stdout.write(`${file}: ${(out.bytes / 1024).toFixed(0)} KiB\n`);
}
