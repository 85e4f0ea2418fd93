/**
 * The simulator's REST side on the WebSocket's port: Gamma (gamma.ts) and the CLOB (clob.ts) on
 * one origin, so `http://host:port` is both base URLs. `GET /markets` with `next_cursor` is the
 * CLOB's market list; without it, Gamma's. Failures on demand (`failRest`): the next requests are
 * answered with 429 (with `Retry-After` and `retry_after_seconds`) or a 5xx.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog } from './catalog.js';
import { ClobService } from './clob.js';
import type { Exchange } from './engine.js';
import { GammaService, type Reply } from './gamma.js';

/** What {@link Simulator.failRest} injects: the status the next matching REST requests get, how many, and on which paths. */
export interface RestFailure {
  /** 429 (default), 500, 502 or 503. */
  status?: 429 | 500 | 502 | 503;
  /** How many requests get it. Default 1. */
  count?: number;
  /** Only requests whose path starts with this (e.g. `/markets/keyset`). Default any. */
  path?: string;
  /** For a 429 (and a 503): the `Retry-After` header and `retry_after_seconds`, seconds. Default 1. */
  retryAfterS?: number;
}

const CLOUDFLARE_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n';

function failure(f: Required<Omit<RestFailure, 'path'>>): Reply {
  switch (f.status) {
    case 429:
      return {
        status: 429,
        body: `${JSON.stringify({ error: 'Too Many Requests', retry_after_seconds: f.retryAfterS })}\n`,
        headers: { 'retry-after': String(f.retryAfterS) },
      };
    case 502:
      return { status: 502, body: CLOUDFLARE_502, headers: { 'content-type': 'text/html' } };
    case 503:
      return {
        status: 503,
        body: '{"error":"Service Unavailable"}\n',
        headers: { 'retry-after': String(f.retryAfterS) },
      };
    default:
      return { status: 500, body: '{"error":"Internal Server Error"}\n' };
  }
}

export class RestService {
  /** REST requests answered (failures included). */
  requests = 0;
  /** Requests answered with an injected failure. */
  failures = 0;
  private readonly pending: (Required<Omit<RestFailure, 'path'>> & { path: string })[] = [];
  private readonly gamma: GammaService;
  private readonly clob: ClobService;

  constructor(exchange: Exchange, catalog: Catalog, seed: number | string) {
    this.gamma = new GammaService(catalog, seed);
    this.clob = new ClobService(exchange, catalog);
  }

  /** The next `count` requests (matching `path`) fail with `status`. */
  fail(f: RestFailure = {}): void {
    const status = f.status ?? 429;
    if (![429, 500, 502, 503].includes(status))
      throw new RangeError(`failRest: status must be 429, 500, 502 or 503, got ${status}`);
    const count = f.count ?? 1;
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`failRest: count must be a positive integer, got ${count}`);
    const retryAfterS = f.retryAfterS ?? 1;
    if (!(retryAfterS >= 0)) throw new RangeError(`failRest: retryAfterS must be >= 0, got ${retryAfterS}`);
    this.pending.push({ status, count, retryAfterS, path: f.path ?? '' });
  }

  private takeFailure(path: string): Reply | null {
    const i = this.pending.findIndex((f) => path.startsWith(f.path));
    if (i < 0) return null;
    const f = this.pending[i]!;
    if (--f.count === 0) this.pending.splice(i, 1);
    this.failures++;
    return failure(f);
  }

  /** Answers one HTTP request (the body is read first for POST). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      this.requests++;
      const reply =
        this.takeFailure(url.pathname) ??
        this.clob.handle(method, url.pathname, url.searchParams, Buffer.concat(chunks).toString('utf8')) ??
        (method === 'GET' ? this.gamma.handle(url.pathname, url.searchParams) : null);
      if (reply === null) {
        res.writeHead(404, { 'content-length': 0 });
        res.end();
        return;
      }
      res.writeHead(reply.status, {
        'content-type': 'application/json',
        ...reply.headers,
        'content-length': Buffer.byteLength(reply.body),
      });
      res.end(reply.body);
    });
  }
}
