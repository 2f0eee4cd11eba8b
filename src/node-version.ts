/**
 * Imported first by src/main.ts: on a Node.js older than 24, one line and exit 1, before any
 * dependency loads (@kubernetes/client-node 2.x's undici crashes with a stack trace on Node 20
 * as it loads). ES modules evaluate their imports in order, so nothing after this import runs.
 */
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`mtls-operator: needs Node.js 24 or newer; ${process.execPath} is ${process.version}\n`);
  process.exit(1);
}
export {};
