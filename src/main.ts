/**
 * Entry point: `npm start` (or `node src/main.ts` on Node 24; `node dist/main.js` in the image).
 * Reads flags and environment, connects with the current kubeconfig (KUBECONFIG, ~/.kube/config,
 * or the in-cluster service account), and runs until SIGTERM/SIGINT (src/ops/run.ts: leader
 * election, metrics and health endpoint, graceful shutdown).
 *
 * Exit codes: 0 stopped by a signal; 1 failure or leadership lost (restart as a candidate);
 * 2 bad configuration (one line on stderr naming the flag).
 */
import './node-version.ts'; // first: an old Node.js gets one line, not a dependency's stack trace
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, usage, type OperatorConfig } from './config.ts';
import { namePolicyCheck } from './controller/policy.ts';
import { buildOperator, runOperator } from './ops/run.ts';

function readPolicyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--name-policy-file (MTLS_NAME_POLICY_FILE): ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`mtls-operator: issue and renew mutual-TLS identities\n\n${usage()}\n`);
    return 0;
  }
  let config: OperatorConfig;
  let checkPolicy: ReturnType<typeof namePolicyCheck>;
  try {
    config = loadConfig(argv, process.env);
    checkPolicy = namePolicyCheck(config, config.namePolicyFile ? readPolicyFile(config.namePolicyFile) : undefined);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mtls-operator: ${err.message}\n`);
    return 2;
  }
  const parts = await buildOperator(config, { ...config, checkPolicy }, process.env);
  return runOperator({ ...parts, signals: process });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`mtls-operator: ${err.message}\n`);
    process.exit(1);
  },
);
