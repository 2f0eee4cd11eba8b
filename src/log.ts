/**
 * winston JSON logging. Fields: namespace, name, reason, serial. Never key material: a format
 * refuses to print any line that carries a PEM private key block, whatever a caller passes.
 */
import winston from 'winston';

export type Logger = winston.Logger;

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Replace anything that looks like a private key, anywhere in the entry, before it is written. */
const redactKeys = winston.format((info) => {
  if (!PRIVATE_KEY_PEM.test(JSON.stringify(info))) return info;
  for (const k of Object.keys(info)) if (k !== 'level') delete (info as Record<string, unknown>)[k];
  info.message = 'log entry withheld: it carried private key material';
  return info;
});

export function createLogger(level = 'info', stream?: NodeJS.WritableStream): Logger {
  const transport = stream
    ? new winston.transports.Stream({ stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level,
    format: winston.format.combine(
      redactKeys(),
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    defaultMeta: { component: 'mtls-operator' },
    transports: [transport],
  });
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
