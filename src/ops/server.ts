/**
 * The operations endpoints:
 *   GET /metrics  Prometheus text
 *   GET /healthz  200 "ok" while live, else 503 with the reason (health.ts)
 *   GET /readyz   200 while ready, else 503 with the reason
 * `serve: 'all'` (--metrics-auth=none): one plain HTTP port serves the three, unauthenticated.
 * `serve: 'metrics'` with `tls` and `authorize` (--metrics-auth=kubernetes, the default, as controller-runtime's
 * secure metrics server): HTTPS, and each /metrics request must pass `authorize` (TokenReview +
 * SubjectAccessReview, metrics-auth.ts); `serve: 'health'` is then the plain HTTP port the kubelet probes.
 * In-cluster they bind 0.0.0.0 (probes and scrapes come from outside the pod); tests bind
 * 127.0.0.1 on port 0. close() also drops idle keep-alive connections, so shutdown is prompt.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Check } from './health.ts';
import { Slicer } from '../slice.ts';

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: { scrape(): Promise<string>; scrapeChunks?(): AsyncIterable<string>; readonly contentType: string };
  health: { liveness(): Check; readiness(): Check };
  logger: Logger;
  /** Which paths this port serves (default all three). */
  serve?: 'all' | 'metrics' | 'health';
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { certPem: string; keyPem: string };
  /** Decide each /metrics request from its Authorization header (absent: no check). */
  authorize?(authorization: string | undefined): Promise<{ code: number; message?: string }>;
}

export interface OpsServer {
  /** The bound port (the chosen one when asked for 0). */
  readonly port: number;
  /** The health port, when /healthz and /readyz have their own (--metrics-auth=kubernetes). */
  readonly healthPort?: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * A 200 written piece by piece (chunked), giving the event loop back between pieces and waiting for the socket to
 * drain: the exposition at 10,000 identities is ~4 MB, and one `end()` of it (UTF-8 encoding, TLS) held the loop
 * ~30 ms (issue 11). The next piece is asked for only once this one is written, so a scrape holds one piece at a
 * time; a client that stops reading stops the rendering too, and one that goes away ends it.
 */
async function stream(res: ServerResponse, chunks: AsyncIterable<string>, contentType: string): Promise<void> {
  res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  if (res.req.method === 'HEAD') return void res.end();
  const slicer = new Slicer();
  for await (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
    if (slicer.due()) await slicer.pause();
  }
  res.end();
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const check = (res: ServerResponse, c: Check) => send(res, c.ok ? 200 : 503, `${c.detail}\n`);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const serve = opts.serve ?? 'all';
    const paths = serve === 'metrics' ? ['/metrics'] : serve === 'health' ? ['/healthz', '/readyz'] : ['/metrics', '/healthz', '/readyz'];
    if (!paths.includes(path)) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    if (path === '/healthz') return check(res, opts.health.liveness());
    if (path === '/readyz') return check(res, opts.health.readiness());
    if (opts.authorize) {
      const decision = await opts.authorize(req.headers.authorization);
      if (decision.code !== 200) {
        if (decision.code === 401) res.setHeader('WWW-Authenticate', 'Bearer');
        return send(res, decision.code, `${decision.message ?? 'denied'}\n`);
      }
    }
    if (!opts.metrics.scrapeChunks) return send(res, 200, await opts.metrics.scrape(), opts.metrics.contentType);
    await stream(res, opts.metrics.scrapeChunks(), opts.metrics.contentType);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      opts.logger.warn('ops endpoint failed', { path: req.url, detail: err.message });
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  };
  const server = opts.tls ? createHttpsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, onRequest) : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const what = { all: 'metrics and health endpoint listening', metrics: 'metrics endpoint listening', health: 'health endpoint listening' }[opts.serve ?? 'all'];
  opts.logger.info(what, { address: opts.host, port, ...(opts.tls ? { tls: true } : {}), ...(opts.authorize ? { auth: 'TokenReview+SubjectAccessReview' } : {}) });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
