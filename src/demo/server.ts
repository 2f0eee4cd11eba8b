/**
 * Demo mutual-TLS server: `node dist/demo/main.js server [--port 8443] [--listen ADDRESS]
 * [--reload-interval MS]`, identity from MTLS_DIR (default /var/run/mtls).
 *
 * Only clients with a certificate from the trust bundle (ca.crt) get in (requestCert +
 * rejectUnauthorized). Each request is answered with {"peer": <client SPIFFE ID>, "server": <own
 * SPIFFE ID>} and logged as one JSON line. When the operator renews the certificate and the
 * kubelet updates the mounted Secret, the server loads the new files into its TLS context
 * (server.setSecureContext): new connections get the new certificate, open ones carry on, and
 * the process never restarts.
 */
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { parseOptions, wholeNumber } from './args.ts';
import { identityDir, readIdentity, sameFiles, spiffeIdOf, watchDir, type Identity } from './identity.ts';
import { createLog, describeError } from './log.ts';

export const DEFAULT_PORT = 8443;
export const DEFAULT_RELOAD_INTERVAL_MS = 30_000;

/** Runs until SIGTERM or SIGINT; resolves with the exit code. */
export async function runServer(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const values = parseOptions(argv, {
    port: { type: 'string', default: env.PORT ?? String(DEFAULT_PORT) },
    listen: { type: 'string' },
    'reload-interval': { type: 'string', default: env.MTLS_RELOAD_INTERVAL_MS ?? String(DEFAULT_RELOAD_INTERVAL_MS) },
  });
  const port = wholeNumber('port', values.port, 0);
  const reloadIntervalMs = wholeNumber('reload-interval', values['reload-interval'], 100);
  const dir = identityDir(env);
  const log = createLog('demo-server');

  let current: Identity = await readIdentity(dir);
  const contextOf = (id: Identity) => ({ cert: id.certPem, key: id.keyPem, ca: id.caPem });

  const server = https.createServer(
    { ...contextOf(current), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peerCert = socket.getPeerCertificate();
      const peer = spiffeIdOf(peerCert.subjectaltname);
      const body = `${JSON.stringify({ peer: peer ?? null, server: current.spiffeId ?? null })}\n`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      log.info('request', {
        method: req.method,
        path: req.url,
        status: 200,
        peer: peer ?? null,
        peerSerial: peerCert.serialNumber?.toLowerCase() ?? null,
        remote: socket.remoteAddress,
        serverSerial: current.serial,
      });
    },
  );
  // A client without a certificate is refused in the handshake; one whose certificate is not
  // from the trust bundle right after it (node checks the chain, then drops the connection:
  // authorizationError says why). A TCP probe that connects and leaves is not worth a line.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const untrusted = socket.authorizationError ? String(socket.authorizationError) : undefined;
    if (err.code === 'ECONNRESET' && !untrusted) return;
    const why = untrusted ? { error: `client certificate not trusted: ${untrusted}`, code: untrusted } : describeError(err);
    log.warn('client refused', { remote: socket.remoteAddress ?? null, ...why });
  });

  let reloading = Promise.resolve();
  const reload = async (trigger: string): Promise<void> => {
    let next: Identity;
    try {
      next = await readIdentity(dir);
    } catch (err) {
      log.warn('certificate reload failed: keeping the current certificate', { trigger, ...describeError(err) });
      return;
    }
    if (sameFiles(next, current)) return;
    try {
      server.setSecureContext(contextOf(next)); // throws when key and certificate do not match
    } catch (err) {
      // mid-update (files rewritten one by one): the next change or interval tries again
      log.warn('certificate reload failed: the new files are not a usable identity (yet): keeping the current certificate', { trigger, ...describeError(err) });
      return;
    }
    log.info('certificate reloaded', { trigger, serial: next.serial, previousSerial: current.serial, spiffeId: next.spiffeId, notAfter: next.notAfter });
    current = next;
  };
  const stopWatching = watchDir(dir, reloadIntervalMs, (trigger) => {
    reloading = reloading.then(() => reload(trigger));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const opts = values.listen ? { port, host: values.listen } : { port };
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  log.info('listening', { address: address.address, port: address.port, dir, spiffeId: current.spiffeId, serial: current.serial, notAfter: current.notAfter, reloadIntervalMs });

  // node as PID 1 in a container has no default SIGTERM handler: without these it would ignore it
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info('stopping', { signal });
      stopWatching();
      server.close(() => resolve(0));
      server.closeAllConnections();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
