/**
 * The demo workload of the examples and the kind tests, shipped in the operator image:
 *
 *   node dist/demo/main.js server [--port 8443] [--listen ADDRESS] [--reload-interval MS]
 *   node dist/demo/main.js client [--host HOST] [--port 8443] [--loop N] [--interval MS] [--timeout MS] [--keep-going]
 *
 * (`npm run demo -- server` from a checkout.) Both read their identity from MTLS_DIR (default
 * /var/run/mtls): tls.crt, tls.key and ca.crt, as an mtls-operator Secret mounts them. The
 * client checks the server's SPIFFE ID when MTLS_EXPECT_SERVER_ID is set. Logs are JSON lines
 * on stdout; key material is never printed.
 *
 * Exit codes: 0 done (server: stopped by SIGTERM/SIGINT); 1 failure (one JSON line says why);
 * 2 bad command line.
 */
import { UsageError } from './args.ts';
import { runClient } from './client.ts';
import { createLog, describeError } from './log.ts';
import { runServer } from './server.ts';

const USAGE = [
  'usage: main.js server [--port 8443] [--listen ADDRESS] [--reload-interval MS]',
  '       main.js client [--host HOST] [--port 8443] [--loop N] [--interval MS] [--timeout MS] [--keep-going]',
  'env:   MTLS_DIR (default /var/run/mtls: tls.crt, tls.key, ca.crt), MTLS_EXPECT_SERVER_ID (client)',
].join('\n');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const log = createLog(command === 'server' || command === 'client' ? `demo-${command}` : 'demo');
  try {
    if (command === 'server') return await runServer(rest);
    if (command === 'client') return await runClient(rest);
    if (command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    throw new UsageError(command ? `unknown command "${command}"` : 'missing command: server or client');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`demo: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    const { error, code } = describeError(err);
    log.error(`demo ${command} failed: ${error}`, code ? { code } : {});
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
