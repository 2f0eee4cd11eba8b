/**
 * The operations endpoint (node:http, one port like cert-manager's 9402):
 *   GET /metrics  Prometheus text
 *   GET /healthz  200 "ok" while live, else 503 with the reason (health.ts)
 *   GET /readyz   200 while ready, else 503 with the reason
 * In-cluster it binds 0.0.0.0 (probes and scrapes come from outside the pod); tests bind
 * 127.0.0.1 on port 0. close() also drops idle keep-alive connections, so shutdown is prompt.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Check } from './health.ts';

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: { scrape(): Promise<string>; readonly contentType: string };
  health: { liveness(): Check; readiness(): Check };
  logger: Logger;
}

export interface OpsServer {
  /** The bound port (the chosen one when asked for 0). */
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const check = (res: ServerResponse, c: Check) => send(res, c.ok ? 200 : 503, `${c.detail}\n`);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!['/metrics', '/healthz', '/readyz'].includes(path)) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    if (path === '/healthz') return check(res, opts.health.liveness());
    if (path === '/readyz') return check(res, opts.health.readiness());
    send(res, 200, await opts.metrics.scrape(), opts.metrics.contentType);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      opts.logger.warn('ops endpoint failed', { path: req.url, detail: err.message });
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  opts.logger.info('metrics and health endpoint listening', { address: opts.host, port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
