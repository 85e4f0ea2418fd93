/**
 * A small HTTP server for operators: `GET /metrics` (the Prometheus text exposition) and
 * `GET /healthz` (200 or 503 with a JSON body). It serves whatever {@link MetricsEndpoints} it is
 * given, so any polybook process (a cache, `polybook watch`) can expose one. Binds to loopback
 * unless told otherwise: who may reach it beyond this machine is the operator's decision.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, MetricsListenError } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';

/** Default address of the metrics endpoint: loopback only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** What a metrics server serves. */
export interface MetricsEndpoints {
  /** The Prometheus text exposition (`GET /metrics`). */
  metrics(): string | Promise<string>;
  /** Health (`GET /healthz`): 200 when `ok`, else 503; the object is the JSON body. */
  health(): { readonly ok: boolean } | Promise<{ readonly ok: boolean }>;
}

/** Options of `cache.serveMetrics()`. */
export interface MetricsServerOptions {
  /** TCP port, 0 for any free one (read the bound one from {@link MetricsServer.port}). */
  port: number;
  /**
   * Address to bind. Default `127.0.0.1` (loopback). Another address (`0.0.0.0`, `::`, a LAN
   * address) exposes the endpoints to whoever reaches it: the operator's decision.
   */
  host?: string;
}

/** A running metrics server. `await using server = await cache.serveMetrics({ port })` closes it at scope end. */
export interface MetricsServer extends AsyncDisposable {
  /** The bound address. */
  readonly host: string;
  /** The bound port (the one chosen when 0 was asked). */
  readonly port: number;
  /** Base URL, e.g. `http://127.0.0.1:9464` (append `/metrics` or `/healthz`). */
  readonly url: string;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const INDEX =
  'polybook metrics endpoint\n\nGET /metrics   Prometheus text exposition\nGET /healthz   200 when healthy, 503 otherwise (JSON)\n';

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function handle(endpoints: MetricsEndpoints, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(req, res, 405, TEXT, 'method not allowed: use GET\n');
    return;
  }
  const path = (req.url ?? '/').split('?', 1)[0];
  try {
    if (path === '/metrics') {
      send(req, res, 200, PROMETHEUS_CONTENT_TYPE, await endpoints.metrics());
    } else if (path === '/healthz') {
      const h = await endpoints.health();
      send(req, res, h.ok ? 200 : 503, JSON_TYPE, `${JSON.stringify(h)}\n`);
    } else if (path === '/') {
      send(req, res, 200, TEXT, INDEX);
    } else {
      send(req, res, 404, TEXT, `not found: ${path}\n\n${INDEX}`);
    }
  } catch (e) {
    if (!res.headersSent) send(req, res, 500, TEXT, `polybook: ${(e as Error)?.message ?? String(e)}\n`);
    else res.destroy();
  }
}

/**
 * Starts a metrics server. `onClose` runs once when it is closed.
 * @throws ConfigError on an invalid port or host; MetricsListenError (`POLYBOOK_METRICS_LISTEN`)
 * when it cannot listen there (port in use, not permitted, not an address of this machine).
 */
export async function startMetricsServer(
  endpoints: MetricsEndpoints,
  options: MetricsServerOptions,
  onClose?: () => void,
): Promise<MetricsServer> {
  const port = options?.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('metrics port', port, 'an integer from 0 to 65535 (0 picks a free port)');
  }
  const host = options?.host ?? DEFAULT_METRICS_HOST;
  if (typeof host !== 'string' || host.length === 0) {
    throw new ConfigError('metrics host', host, `an address to bind, such as ${DEFAULT_METRICS_HOST}`);
  }
  const server = createServer((req, res) => {
    void handle(endpoints, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (e: unknown) => reject(new MetricsListenError(host, port, e));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const urlHost = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      onClose?.();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    host: a.address,
    port: a.port,
    url: `http://${urlHost}:${a.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
