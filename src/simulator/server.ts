/**
 * HTTP + WebSocket listener on loopback: upgrades on the market path go to the exchange, upgrades on
 * any other path get HTTP 404; other HTTP requests go to the REST side (rest.ts) when it is on.
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
  /** Answers a REST request. */
  rest(req: IncomingMessage, res: ServerResponse): void;
}

export interface Listener {
  port: number;
  close(): Promise<void>;
}

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

function handleHttp(o: ListenOptions, hooks: ServerHooks, req: IncomingMessage, res: ServerResponse): void {
  if (o.rest) return hooks.rest(req, res);
  res.writeHead(404, { 'content-length': 0 });
  res.end();
}
