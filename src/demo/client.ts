/**
 * Demo mutual-TLS client: `node dist/demo/main.js client [--host server.demo.svc] [--port 8443]
 * [--loop N] [--interval MS] [--timeout MS] [--keep-going]`, identity from MTLS_DIR (default /var/run/mtls).
 *
 * Calls https://<host>:<port>/ with its own certificate (tls.crt, tls.key), verifies the server
 * against ca.crt and against <host> (a DNS name or IP address of the server's certificate), and,
 * when MTLS_EXPECT_SERVER_ID is set, checks that the server's SPIFFE ID is that one. Prints one
 * JSON line per answer. --loop N makes N calls (0: until stopped), --interval MS apart; each
 * call is a new connection with the files read afresh, so a renewed client certificate is used
 * as soon as the kubelet has written it. Without tls.crt and tls.key (a mount of the trust
 * bundle ConfigMap), it connects without a certificate: servers that require one refuse it.
 * The first failed call ends it (exit 1), unless --keep-going: then every failure is logged, the
 * loop goes on, and the final 'done' line counts them (exit 1 if any failed; the e2e's count of
 * failed handshakes during a root rotation).
 *
 * Exit codes: 0 every call answered; 1 a call failed (one "demo client failed" line says why);
 * 2 bad arguments.
 */
import https from 'node:https';
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseOptions, wholeNumber } from './args.ts';
import { identityDir, readIdentity, spiffeIdOf, type Identity } from './identity.ts';
import { createLog, describeError } from './log.ts';

interface Answer {
  status: number;
  serverId: string | null;
  serverSerial: string | null;
  response: unknown;
}

/** Words a person can act on for the usual TLS failures (node's own message stays in `error`). */
export function hintFor(code: string | undefined, message: string): string | undefined {
  if (code === 'ECONNRESET' || /socket hang up/.test(message)) {
    return 'the server closed the connection during or right after the handshake: it did not accept our client certificate, none sent or not issued by a CA in its trust bundle';
  }
  if (/CERTIFICATE_REQUIRED|certificate required/i.test(`${code} ${message}`)) return 'the server requires a client certificate and we have none: no tls.crt/tls.key in MTLS_DIR';
  if (/UNKNOWN_CA|BAD_CERTIFICATE|unknown ca|bad certificate/i.test(`${code} ${message}`)) return 'the server refused our client certificate: it was not issued by a CA in the server\'s trust bundle';
  if (code && /ISSUER|SELF_SIGNED|CERT_UNTRUSTED|UNABLE_TO_VERIFY/.test(code)) return 'the server\'s certificate was not issued by a CA in our trust bundle (ca.crt)';
  if (code === 'CERT_HAS_EXPIRED') return 'the server\'s certificate has expired';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // node: "Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:web"
    const m = /(?:Host: (.+?)\.|IP: (\S+)) is not in the cert's (?:altnames|list): ?(.*)$/.exec(message);
    const host = m?.[1] ?? m?.[2];
    const names = m?.[3]?.trim();
    const called = host ? `"${host}"` : 'the host we called';
    const fix = host && !m?.[2] ? `, or issue the server's files for it: kubectl mtls issue --local ... --dns ${host}` : host ? ' (an IP address needs spec.ipAddresses and an allow-list range)' : '';
    return `the server's certificate does not name ${called}${names ? ` (it names ${names})` : ''}: call the server by one of its dnsNames${fix}`;
  }
  if (code === 'ERR_SPIFFE_ID_MISMATCH') return 'the server is not the workload MTLS_EXPECT_SERVER_ID names';
  if (code === 'ECONNREFUSED') return 'nothing listens there: is the server running?';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve';
  return undefined;
}

function call(host: string, port: number, id: Identity, expectServerId: string | undefined, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host,
        port,
        path: '/',
        method: 'GET',
        ...(id.certPem && id.keyPem ? { cert: id.certPem, key: id.keyPem } : {}),
        ca: id.caPem,
        agent: false, // a new connection (and TLS handshake) for every call
        timeout: timeoutMs,
        checkServerIdentity: (name: string, cert: PeerCertificate) => {
          const err = checkServerIdentity(name, cert);
          if (err) return err;
          const got = spiffeIdOf(cert.subjectaltname);
          if (expectServerId && got !== expectServerId) {
            return Object.assign(new Error(`server SPIFFE ID is ${got ?? '(none)'}, expected ${expectServerId}`), { code: 'ERR_SPIFFE_ID_MISMATCH' });
          }
          return undefined;
        },
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        const serverId = spiffeIdOf(cert.subjectaltname) ?? null;
        const serverSerial = cert.serialNumber?.toLowerCase() ?? null;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolve({ status: 200, serverId, serverSerial, response: JSON.parse(text) as unknown });
          } catch {
            reject(new Error(`the answer is not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the exit code. */
export async function runClient(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const values = parseOptions(argv, {
    host: { type: 'string', default: env.MTLS_SERVER_HOST ?? 'localhost' },
    port: { type: 'string', default: env.MTLS_SERVER_PORT ?? '8443' },
    loop: { type: 'string', default: '1' },
    interval: { type: 'string', default: '1000' },
    timeout: { type: 'string', default: '10000' },
    'keep-going': { type: 'boolean', default: false },
  });
  const host = values.host;
  const port = wholeNumber('port', values.port, 1);
  const loop = wholeNumber('loop', values.loop, 0);
  const intervalMs = wholeNumber('interval', values.interval, 0);
  const timeoutMs = wholeNumber('timeout', values.timeout, 1);
  const expectServerId = env.MTLS_EXPECT_SERVER_ID || undefined;
  const dir = identityDir(env);
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  const log = createLog('demo-client');

  let stopped = false;
  const abort = new AbortController();
  const stop = () => {
    stopped = true;
    abort.abort();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  let warnedNoCert = false;
  const keepGoing = values['keep-going'] === true;
  let n = 0;
  let failed = 0;
  while (!stopped && (loop === 0 || n < loop)) {
    n++;
    try {
      const id = await readIdentity(dir, { certOptional: true });
      if (!id.certPem && !warnedNoCert) {
        warnedNoCert = true;
        log.warn('no client certificate (no tls.crt/tls.key): connecting without one', { dir });
      }
      const answer = await call(host, port, id, expectServerId, timeoutMs);
      log.info('response', { call: n, url, clientId: id.spiffeId ?? null, clientSerial: id.serial ?? null, ...answer });
    } catch (err) {
      const { error, code } = describeError(err);
      const hint = hintFor(code, error);
      log.error(`demo client failed: call ${n} to ${url}: ${error}${hint ? `; ${hint}` : ''}`, { call: n, url, error, ...(code ? { code } : {}) });
      if (!keepGoing) return 1;
      failed++;
    }
    if (loop === 0 || n < loop) await sleep(intervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
  }
  log.info('done', { calls: n, ok: n - failed, failed, url });
  return failed === 0 ? 0 : 1;
}
