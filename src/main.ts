/**
 * Entry point: `npm start` (or `node src/main.ts` on Node 24). Reads flags and environment,
 * connects with the current kubeconfig (KUBECONFIG, ~/.kube/config, or the in-cluster service
 * account), and runs the controller until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeCluster } from './adapter/kube.ts';
import { systemClock } from './clock.ts';
import { ConfigError, loadConfig, usage, type OperatorConfig } from './config.ts';
import { Controller } from './controller/controller.ts';
import { createLogger } from './log.ts';
import { namePolicyCheck } from './controller/policy.ts';

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
    checkPolicy = namePolicyCheck(config, config.namePolicyFile ? readFileSync(config.namePolicyFile, 'utf8') : undefined);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mtls-operator: ${err.message}\n`);
    return 2;
  }
  const logger = createLogger(config.logLevel);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const cluster = new KubeCluster({
    kubeConfig,
    ...(config.watchNamespaces.length ? { namespaces: config.watchNamespaces } : {}),
    operatorNamespace: config.operatorNamespace,
    caSecretName: config.caSecretName,
    logger,
  });
  const controller = new Controller({
    cluster,
    clock: systemClock,
    logger,
    config: { ...config, checkPolicy },
  });
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info('shutting down', { signal });
      controller.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  logger.info('starting', { context: kubeConfig.getCurrentContext(), operatorNamespace: config.operatorNamespace, caSecret: config.caSecretName, trustDomain: config.trustDomain });
  await controller.start();
  await stopped;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`mtls-operator: ${err.message}\n`);
    process.exit(1);
  },
);
