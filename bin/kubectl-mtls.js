#!/usr/bin/env node
// kubectl-mtls, the kubectl plugin of mtls-operator: `kubectl mtls <command>` once this file is on
// PATH as kubectl-mtls (npm link / npm install -g <checkout>, or a symlink).
//
// Runs dist/cli/main.js when it exists (npm run build), else src/cli/main.ts with Node's built-in
// type stripping (Node >= 23.6; not for files under node_modules, so an installed copy needs the
// build). Plain JavaScript that any Node parses, so an old `node` on PATH gets a clear message
// instead of a crash: the plugin needs Node 24 (@kubernetes/client-node 2.x does not run on 20).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`error: kubectl-mtls needs Node.js 24 or newer; ${process.execPath} is ${process.version}\n`);
  process.exit(1);
}

const dist = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(fileURLToPath(dist)) ? dist : new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Leave once the output is flushed, even if an idle keep-alive connection would hold the loop.
setTimeout(() => process.exit(code), 200).unref();
