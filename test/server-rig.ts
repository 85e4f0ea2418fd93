/**
 * Processes for the book-server tests: {@link startChild} runs test/server-child.ts in a child
 * process (a server or a reader) and stops it after the test, pass or fail (SIGKILL if it does not
 * exit), removing the files a killed server left under its name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterTest } from './rig.js';
import { waitFor } from './helpers.js';
import type { ReaderConfig, ServerConfig } from './server-child.js';
import { socketPath, tablePath } from '../src/server/memory.js';
import { BookServer, type BookServerOptions } from '../src/server/server.js';
import { PROTOCOL_VERSION } from '../src/server/protocol.js';
import { LAYOUT_VERSION } from '../src/table/layout.js';

const CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** A running child: its ready message, requests over IPC, and its end. */
export interface Child<R = Record<string, unknown>> {
  readonly process: ChildProcess;
  readonly ready: R;
  /** Asks the child (see the handlers of test/server-child.ts). */
  request<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Resolves with the exit code (or signal) once the child exited. */
  readonly exited: Promise<number | string>;
  /** What the child wrote on stderr. */
  stderr(): string;
}

let run = 0;
/** A server name unique to this test process and call. */
export function serverName(tag: string): string {
  return `t${process.pid}-${tag}-${++run}`;
}

/** Removes what a (killed) server left under `name`. */
export function removeServerFiles(name: string): void {
  rmSync(tablePath(name), { force: true });
  rmSync(socketPath(name), { force: true });
}

/** Starts a child, waits for its ready message (rejects on its fatal error), and stops it after the test. */
export async function startChild<R = Record<string, unknown>>(
  config: ServerConfig | ReaderConfig,
  env: Record<string, string> = {},
): Promise<Child<R>> {
  const p = spawn(process.execPath, ['--import', TSX, CHILD, JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    p.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  afterTest(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited;
    }
    if (config.role === 'server') removeServerFiles(config.name);
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  const ready = await new Promise<R>((resolve, reject) => {
    p.on('message', (m: { ready?: boolean; fatal?: { message: string; code?: string }; id?: number }) => {
      if (m.ready) return resolve(m as R);
      if (m.fatal) return reject(Object.assign(new Error(m.fatal.message), { code: m.fatal.code }));
      const w = m.id === undefined ? undefined : waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id as number);
      const r = m as { value?: unknown; error?: { message: string; code?: string } };
      if (r.error) w.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
      else w.resolve(r.value);
    });
    void exited.then((code) => reject(new Error(`the ${config.role} exited (${code}) before it was ready: ${err}`)));
  });
  return {
    process: p,
    ready,
    exited,
    stderr: () => err,
    request<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        p.send({ ...args, id, op });
      });
    },
  };
}

/** Polls an asynchronous condition (a child's report) until it holds; throws after `timeoutMs`. */
export async function eventually(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A BookServer in this process (stopped after the test), with no state file unless asked. */
export async function localServer(options: BookServerOptions): Promise<BookServer> {
  const server = await BookServer.start({ stateFile: false, ...options });
  afterTest(async () => {
    await server.stop();
    removeServerFiles(options.name);
  });
  return server;
}

/** A control-channel reply as the tests read it. */
export interface Reply {
  id: number | null;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** A raw client of a server's control socket (closed after the test). */
export interface RawClient {
  readonly socket: Socket;
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<unknown>;
  /** Writes one line as it is (hostile input included). */
  send(line: string): void;
  /** The next reply, in order. */
  next(): Promise<Reply>;
  /** Sends a request numbered after the previous one and returns the next reply. */
  ask(req: object): Promise<Reply>;
}

/** The `hello` request line of this build, with `id`. */
export const helloLine = (id: number): string =>
  JSON.stringify({ id, op: 'hello', protocol: PROTOCOL_VERSION, layoutVersion: LAYOUT_VERSION, pid: 1 });

/**
 * Connects a {@link RawClient} to the control socket of server `name`; no hello is sent. Replies
 * are waited for up to `replyTimeoutMs` (the default of `waitFor` when undefined).
 */
export async function rawClient(name: string, replyTimeoutMs?: number): Promise<RawClient> {
  const socket = connect(socketPath(name));
  afterTest(() => socket.destroy());
  await once(socket, 'connect');
  const replies: Reply[] = [];
  let buffered = '';
  socket.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      replies.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
  });
  const closed = once(socket, 'close');
  let id = 0;
  const next = async (): Promise<Reply> => {
    await waitFor(() => replies.length > 0, 'a reply', replyTimeoutMs);
    return replies.shift() as Reply;
  };
  const send = (line: string) => socket.write(`${line}\n`);
  return {
    socket,
    closed,
    send,
    next,
    ask: (req) => {
      send(JSON.stringify({ ...req, id: ++id }));
      return next();
    },
  };
}
