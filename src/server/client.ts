/**
 * The client side of a book server's control channel (src/server/protocol.ts): a connection that
 * says hello, sends requests and matches replies, and reconnects by itself when the server goes
 * away, and the feed of a connected cache over it ({@link RemoteFeed}), which asks the server for
 * tokens and replays what it holds after a reconnect (a restarted server).
 */
import { EventEmitter } from 'node:events';
import { lstatSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { toGroups, type MarketGroup } from '../cache/universe.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';
import type { MarketQuery } from '../discovery/queries.js';
import { PolybookError, type ErrorCode } from '../errors.js';
import type { FeedEvents } from '../feed/manager.js';
import { readStats, STATS_WORDS, type FeedStats } from '../feed/stats.js';
import { LAYOUT_VERSION } from '../table/layout.js';
import type { AttachedStore } from './attached.js';
import { socketPath } from './memory.js';
import {
  LineReader,
  MAX_REPLY_BYTES,
  type AcquireAnswer,
  PROTOCOL_VERSION,
  type OpName,
  type Operations,
  type ServerMetrics,
  type ServerUniverse,
  type ServerWarmup,
} from './protocol.js';

/** Reconnect delays after the server went away, ms: the first, doubled up to the last. */
const RECONNECT_MS = [50, 1000] as const;

type HelloAnswer = Operations['hello']['answer'];

/** Checks that the control socket is this user's and owner-only before anything is sent to it. */
function checkSocket(path: string, name: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return; // not there (yet): connect() says so
  }
  const mine = process.getuid?.();
  if (!st.isSocket() || (mine !== undefined && st.uid !== mine) || (st.mode & 0o077) !== 0) {
    throw new PolybookError(
      'POLYBOOK_SERVER_UNSAFE',
      `polybook: refusing the control socket of book server "${name}" (${path}): it is not an owner-only socket of this user; remove it`,
    );
  }
}

/** A control-channel connection to the book server `name`, reconnecting until closed. */
export class ControlClient extends EventEmitter<{ reconnected: [HelloAnswer]; disconnected: [] }> {
  readonly path: string;
  private socket: Socket | null = null;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private delay: number = RECONNECT_MS[0];
  /** The server's hello on the current connection. */
  hello: HelloAnswer | null = null;

  constructor(readonly name: string) {
    super();
    this.path = socketPath(name);
  }

  /**
   * Connects and says hello, retrying while the socket is not there for up to `timeoutMs` (a
   * server starting). @throws PolybookError `POLYBOOK_SERVER_NOT_FOUND` after that,
   * `POLYBOOK_LAYOUT_MISMATCH` from a server of another version, `POLYBOOK_SERVER_UNSAFE`.
   */
  async connect(timeoutMs: number, signal?: AbortSignal): Promise<HelloAnswer> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      try {
        return await this.open();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const retryable = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (!retryable) throw e;
        if (performance.now() >= until) {
          throw new PolybookError(
            'POLYBOOK_SERVER_NOT_FOUND',
            `polybook: the control socket of book server "${this.name}" (${this.path}) does not answer (${code}); is the server running? Start it with 'polybook serve --name ${this.name}'`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Sends a request; resolves with the server's answer. @throws PolybookError with the server's code. */
  request<K extends OpName>(op: K, ask: Record<string, unknown>): Promise<Operations[K]['answer']> {
    const s = this.socket;
    if (this.closed || !s || s.destroyed || (op !== 'hello' && !this.hello)) {
      return Promise.reject(
        new PolybookError(
          'POLYBOOK_CONTROL',
          `polybook: ${op}: not connected to book server "${this.name}" (it may be restarting; the request can be retried)`,
        ),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      s.write(`${JSON.stringify({ ...ask, id, op })}\n`);
    });
  }

  /** Closes the connection and stops reconnecting. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.socket?.destroy();
    this.socket = null;
    this.failAll('the client closed');
  }

  /** One connection attempt: connect, then hello. */
  private open(): Promise<HelloAnswer> {
    checkSocket(this.path, this.name);
    return new Promise<HelloAnswer>((resolve, reject) => {
      const s = connect(this.path);
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        s.destroy();
        reject(e);
      };
      s.once('error', fail);
      s.once('connect', () => {
        s.off('error', fail);
        s.on('error', () => {});
        this.attach(s);
        this.request('hello', { protocol: PROTOCOL_VERSION, layoutVersion: LAYOUT_VERSION, pid: process.pid }).then(
          (h) => {
            settled = true;
            this.hello = h;
            this.delay = RECONNECT_MS[0];
            resolve(h);
          },
          (e: Error) => fail(e),
        );
      });
    });
  }

  private attach(s: Socket): void {
    this.socket = s;
    const reader = new LineReader(
      MAX_REPLY_BYTES,
      (line) => this.onReply(line),
      () => s.destroy(),
    );
    s.on('data', (chunk: Buffer) => reader.push(chunk));
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.hello = null;
      this.failAll('the server closed the control channel');
      this.emit('disconnected');
      this.schedule();
    });
  }

  private onReply(line: string): void {
    let r: { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    try {
      r = JSON.parse(line);
    } catch {
      return;
    }
    const w = typeof r.id === 'number' ? this.waiting.get(r.id) : undefined;
    if (!w) return;
    this.waiting.delete(r.id as number);
    if (r.ok === true) w.resolve(r.result);
    else {
      const code = (typeof r.error?.code === 'string' ? r.error.code : 'POLYBOOK_CONTROL') as ErrorCode;
      w.reject(new PolybookError(code, String(r.error?.message ?? 'polybook: the server refused the request')));
    }
  }

  private failAll(why: string): void {
    const e = new PolybookError('POLYBOOK_CONTROL', `polybook: book server "${this.name}": ${why}`);
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  /** Reconnects after the server went away (a restart): backoff from 50 ms to 1 s. */
  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.open().then(
        (h) => {
          if (this.closed) return;
          this.emit('reconnected', h);
        },
        () => {
          this.delay = Math.min(this.delay * 2, RECONNECT_MS[1]);
          this.schedule();
        },
      );
    }, this.delay);
  }
}

/**
 * The feed of a cache connected to a book server: what the cache holds is asked of the server
 * (reference-counted per client there) and asked again after a reconnect. Its stats are the
 * server's feed stats, which the server publishes into the table every 100 ms.
 */
export class RemoteFeed extends EventEmitter<
  FeedEvents & { synced: []; error: [unknown]; markets: [DiscoveredMarket[]] }
> {
  /** Held tokens and the market each was added with. */
  private readonly held = new Map<string, string | undefined>();
  private stopped = false;

  constructor(
    private readonly client: ControlClient,
    private readonly store: AttachedStore,
  ) {
    super();
    client.on('reconnected', () => this.replay());
  }

  /** Holds tokens (or market groups) on the server (a refusal is emitted as `error`). */
  add(entries: Iterable<string | MarketGroup>): void {
    this.acquire(entries).catch((e: unknown) => {
      // Not connected: the reconnect replays everything held. Stopped: nobody waits for it.
      if (this.stopped) return;
      if ((e as PolybookError).code !== 'POLYBOOK_CONTROL' || this.client.hello) this.emit('error', e);
    });
  }

  /**
   * Holds tokens (or market groups) on the server; resolves (and emits `synced`, and `markets`
   * with the markets the server describes among them) once the server subscribed them and this
   * process's token map has them. @throws PolybookError the server's refusal.
   */
  async acquire(entries: Iterable<string | MarketGroup>): Promise<AcquireAnswer | null> {
    const groups: MarketGroup[] = [];
    for (const e of entries) {
      const g = typeof e === 'string' ? { tokens: [e] } : e;
      for (const t of g.tokens) this.held.set(t, g.market);
      groups.push(g.market === undefined ? { tokens: [...g.tokens] } : { market: g.market, tokens: [...g.tokens] });
    }
    if (groups.length === 0) return null;
    const answer = await this.client.request('acquire', { universe: groups });
    this.synced(groups, answer);
    return answer;
  }

  /**
   * Has the server run a discovery query and hold the markets it finds for this client (every
   * outcome of each); resolves like {@link RemoteFeed.acquire}, with the groups now held.
   * @throws PolybookError the server's refusal, or its discovery's failure (`POLYBOOK_DISCOVERY`,
   *   `POLYBOOK_NETWORK`, `POLYBOOK_HTTP`).
   */
  async acquireQuery(query: MarketQuery): Promise<{ groups: MarketGroup[]; answer: AcquireAnswer }> {
    const answer = await this.client.request('acquire', { universe: query });
    const groups = toGroups(answer.markets);
    for (const g of groups) for (const t of g.tokens) this.held.set(t, g.market);
    this.synced(groups, answer);
    return { groups, answer };
  }

  /** The markets the server describes: of `tokens` it holds, or of everything it holds. */
  describe(tokens?: readonly string[]): Promise<DiscoveredMarket[]> {
    return this.client.request('universe', tokens ? { tokens } : {}).then((u) => u.markets);
  }

  private synced(groups: MarketGroup[], answer: AcquireAnswer): void {
    this.store.follow();
    this.store.adopt(groups.flatMap((g) => g.tokens));
    if (answer.markets.length > 0) this.emit('markets', answer.markets);
    this.emit('synced');
  }

  remove(ids: Iterable<string>): void {
    const tokens = [...ids].filter((t) => this.held.delete(t));
    if (tokens.length === 0) return;
    this.client.request('release', { tokens }).catch(() => {
      // Not connected: the server released everything of this connection already.
    });
  }

  /**
   * The server's feed stats as it last published them (every 100 ms); while the server is down,
   * no connection counts as open (its sockets died or froze with it).
   */
  stats(): FeedStats {
    const m = this.store.mapped;
    const stats = readStats(new Float64Array(m.buffer, m.region.stats, STATS_WORDS));
    if (!this.store.serverUp) stats.open = 0;
    return stats;
  }

  /** The server's feed stats right now, asked by request. */
  async fetchStats(): Promise<FeedStats> {
    const r = await this.client.request('metrics', {});
    return r.feed ?? this.stats();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.client.close();
    return Promise.resolve();
  }

  /** After a reconnect: everything held is asked for again. */
  private replay(): void {
    const byMarket = new Map<string | undefined, string[]>();
    for (const [t, m] of this.held) {
      const list = byMarket.get(m);
      if (list) list.push(t);
      else byMarket.set(m, [t]);
    }
    const groups: MarketGroup[] = [];
    for (const [market, tokens] of byMarket) {
      if (market === undefined) for (const t of tokens) groups.push({ tokens: [t] });
      else groups.push({ market, tokens });
    }
    this.add(groups);
  }
}

/**
 * The book server a cache is connected to (`cache.server` of `BookCache.connect`): what it holds,
 * its metrics and its warmup, asked over its control channel.
 */
export class ServerLink {
  /** @internal */
  constructor(
    private readonly client: ControlClient,
    private readonly store: AttachedStore,
  ) {}

  /** The server's name. */
  get name(): string {
    return this.client.name;
  }

  /** The generation of the server read now: 1 on its first start under the name, +1 per restart. */
  get generation(): number {
    return this.store.generation;
  }

  /** Whether its heartbeat is current (reads may be served); false once it is older than the bound. */
  get up(): boolean {
    return this.store.serverUp;
  }

  /** Every token the server holds, by market, and what discovery described. @throws PolybookError `POLYBOOK_CONTROL` while it is unreachable. */
  universe(): Promise<ServerUniverse> {
    return this.client.request('universe', {});
  }

  /** The server's metrics summary, feed stats and number of clients. @throws PolybookError `POLYBOOK_CONTROL` while it is unreachable. */
  metrics(): Promise<ServerMetrics> {
    return this.client.request('metrics', {});
  }

  /** The server's initial warmup (progress, then result). @throws PolybookError `POLYBOOK_CONTROL` while it is unreachable. */
  warmup(): Promise<ServerWarmup> {
    return this.client.request('warmup', {});
  }
}
