/**
 * HTTP + WebSocket listener on loopback: upgrades on the market path go to the exchange, upgrades on
 * any other path get HTTP 404; optional REST `GET /book?token_id=` and `POST /books`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ListenOptions {
  host: string;
  port: number;
  path: string;
  rest: boolean;
}

export interface ServerHooks {
  onSocket(ws: WebSocket, socket: Duplex): void;
  /** REST book body, or null for 404. */
  restBook(tokenId: string): string | null;
}

export interface Listener {
  port: number;
  close(): Promise<void>;
}

const NOT_FOUND_BOOK = '{"error":"No orderbook exists for the requested token id"}';
const INVALID_PAYLOAD = '{"error":"Invalid payload"}';

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export async function listen(o: ListenOptions, hooks: ServerHooks): Promise<Listener> {
  const wss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false, clientTracking: false });
  const server: Server = createServer((req, res) => handleHttp(o, hooks, req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== o.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => hooks.onSocket(ws, socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function handleHttp(o: ListenOptions, hooks: ServerHooks, req: IncomingMessage, res: ServerResponse): void {
  const path = pathOf(req);
  if (o.rest && req.method === 'GET' && path === '/book') {
    const id = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token_id');
    if (!id) return reply(res, 400, INVALID_PAYLOAD);
    const body = hooks.restBook(id);
    return body === null ? reply(res, 404, NOT_FOUND_BOOK) : reply(res, 200, body);
  }
  if (o.rest && req.method === 'POST' && path === '/books') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let items: unknown;
      try {
        items = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(res, 400, INVALID_PAYLOAD);
      }
      if (!Array.isArray(items)) return reply(res, 400, INVALID_PAYLOAD);
      const books: string[] = [];
      for (const it of items) {
        const id = typeof it === 'object' && it !== null ? (it as Record<string, unknown>).token_id : undefined;
        if (typeof id !== 'string') return reply(res, 400, INVALID_PAYLOAD);
        const b = hooks.restBook(id);
        if (b !== null) books.push(b);
      }
      reply(res, 200, `[${books.join(',')}]`);
    });
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
}
