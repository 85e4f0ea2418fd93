/**
 * SubscriptionManager: keeps a universe of tokens subscribed on sharded market-channel
 * connections and feeds every frame into a {@link BookStore}. Design and options: docs/FEED.md.
 */
import { EventEmitter } from 'node:events';
import type { BookStore } from '../table/store.js';
import { preciseNow } from '../table/clock.js';
import { FeedConnection, FeedCounters, type ConnectionHost, type Group } from './connection.js';
import { MAX_FEED_CONNECTIONS, resolveFeedOptions, type FeedOptions, type ResolvedFeedOptions } from './options.js';
import type { FeedStats } from './stats.js';

export type { FeedStats } from './stats.js';
import { planPlacement, type IncomingGroup, type Placement } from './placement.js';
import { stallConfirmed, watchdogVerdict } from './watchdog.js';
import { FeedLog } from './log.js';
import { readTrades, type Trade } from './trades.js';
import { PolybookError, invalidArgument } from '../errors.js';

/**
 * The tokens of one market: they always share a connection. `market` is the condition id (a
 * `MarketGroup` from discovery fits).
 */
export interface FeedGroup {
  /** Condition id; absent for a lone token. */
  market?: string;
  /** The market's token ids. */
  tokens: readonly string[];
}

/** One universe entry: a market's tokens, or a lone token id (its own group). */
export type UniverseEntry = string | FeedGroup;

/** Emitted when a connection's socket opened and its first frame was sent. */
export interface ConnectedEvent {
  /** Connection index (1..255), stable across reconnects. */
  conn: number;
  /** Tokens subscribed in the first frame. */
  tokens: number;
}

/** Emitted when an open connection's socket is gone (its tokens are already invalidated). */
export interface DisconnectedEvent {
  /** Connection index (1..255). */
  conn: number;
  /** WebSocket close code (1006 when there was no close frame or the feed dropped the socket). */
  code: number;
  /**
   * Close reason, or why the feed dropped the socket (`pong timeout`, `stall`, `silence`, `unconfirmed`,
   * `frame too large` with code 1009, `protocol error` with code 1002), or the reason given to
   * {@link SubscriptionManager.reconnect} (`quarantine` from the cache's auditor).
   */
  reason: string;
  /** Tokens on the connection. */
  tokens: number;
  /** Delay before the reconnect, ms, or null when the connection is not reconnected (settled, stopped). */
  reconnectInMs: number | null;
}

/** A `new_market` event (broadcast when `customFeatures` is on), as sent by the server. */
export interface NewMarketEvent {
  /** Always `new_market`. */
  event_type: 'new_market';
  /** Condition id. */
  market?: string;
  /** The market's token ids. */
  assets_ids?: string[];
  /** The question the market resolves. */
  question?: string;
  /** URL slug. */
  slug?: string;
  [field: string]: unknown;
}

/** Events of a {@link SubscriptionManager}. */
export interface FeedEvents {
  /** A connection's socket opened and its first subscription was sent. */
  connected: [ConnectedEvent];
  /** A connection's socket is gone; its tokens were invalidated first. */
  disconnected: [DisconnectedEvent];
  /** A `new_market` event arrived (only scanned for while someone listens). */
  newMarket: [NewMarketEvent];
  /** A `last_trade_price` event arrived (frames are searched for them only while someone listens). */
  trade: [Trade];
}

/** See {@link SubscriptionManager.liveness}. */
export interface ConnectionLiveness {
  /** Whether the socket is open. */
  open: boolean;
  /** Enough data frames recently (about 4/s or more) for stall detection to judge the socket. */
  busy: boolean;
  /** Typical gap between data frames (time-weighted mean, ms); NaN while not open. */
  typicalGapMs: number;
  /** Silence after which the socket counts as stalled, ms (`silenceTimeoutMs` while not busy; Infinity when that is off). */
  stallAfterMs: number;
  /** Time since the last data frame (or since the socket opened), ms; NaN while not open. */
  silentMs: number;
  /**
   * Whether the socket is confirmed: a PONG answered a PING sent after its first data frame (its
   * reconnect backoff started over then). False while not open.
   */
  confirmed: boolean;
}

interface Pending {
  deadline: number;
  tries: number;
}

/** Longest wait between two resubscriptions of a token that gets no book, ms. */
const MAX_RETRY_MS = 60_000;

/**
 * Subscribes a universe of tokens on sharded WebSocket connections and feeds a {@link BookStore}.
 * One manager per store. All work happens on the thread that created it (see `startWorkerFeed`
 * to run it off the main thread).
 *
 * ```ts
 * const store = new BookStore();
 * const feed = new SubscriptionManager(store, { confirmIntervalMs: 250 });
 * feed.start([{ market: conditionId, tokens: [yes, no] }]);
 * ```
 */
export class SubscriptionManager extends EventEmitter<FeedEvents> {
  /** The options in force, defaults applied. */
  readonly options: ResolvedFeedOptions;
  private readonly conns: (FeedConnection | undefined)[] = new Array(MAX_FEED_CONNECTIONS + 1);
  private readonly groupOf = new Map<string, Group>();
  private readonly groupByKey = new Map<string, Group>();
  private readonly pending = new Map<string, Pending>();
  private readonly counters = new FeedCounters();
  private readonly host: ConnectionHost;
  private readonly log: FeedLog;
  private healthTimer: NodeJS.Timeout | undefined;
  private started = false;
  private resyncScheduled = false;
  private stopped = false;
  private rate = { at: 0, messages: 0, bytes: 0, messagesPerSec: 0, bytesPerSec: 0 };

  /**
   * @param store the table to feed (the manager subscribes, assigns, confirms, invalidates and settles its tokens).
   * @throws ConfigError on an invalid option.
   */
  constructor(
    readonly store: BookStore,
    options: FeedOptions = {},
  ) {
    super();
    this.options = resolveFeedOptions(options);
    this.log = new FeedLog(this.options.logger, this.options.logStyle);
    this.host = {
      store,
      options: this.options,
      log: this.log,
      counters: this.counters,
      scanNewMarkets: () => this.listenerCount('newMarket') > 0,
      scanTrades: () => this.listenerCount('trade') > 0,
      onOpen: (c, now) => this.onOpen(c, now),
      onDisconnect: (c, code, reason, local, wasOpen) => this.onDisconnect(c, code, reason, local, wasOpen),
      onControl: (c, text) =>
        this.log.write(
          text === 'NO NEW ASSETS' ? 'feed.no_new_assets' : 'feed.control_reply',
          `polybook feed: server replied ${text}`,
          { conn: c.index, reply: text },
        ),
      onNewMarketFrame: (_c, frame) => this.onNewMarketFrame(frame),
      onTradeFrame: (_c, frame) => readTrades(frame.toString('utf8'), (t) => this.safeEmit('trade', t)),
      onBadFrame: (c, now) => this.onBadFrame(c, now),
      onResync: () => {
        if (this.resyncScheduled) return;
        this.resyncScheduled = true;
        setImmediate(() => {
          this.resyncScheduled = false;
          if (!this.stopped) this.processResync(preciseNow());
        });
      },
      onConfirmed: (c, sentAt) => {
        c.unconfirmedAdds = c.unconfirmedAdds.filter((a) => a.at >= sentAt);
      },
    };
  }

  /**
   * Subscribes the universe (eagerly: every connection opens now) and starts the health timer.
   * @throws PolybookError `POLYBOOK_INVALID_STATE` when already started, `POLYBOOK_CAPACITY` when the
   *   universe needs more than 255 connections or more slots than the table has.
   */
  start(universe: Iterable<UniverseEntry> = []): void {
    if (this.started) throw new PolybookError('POLYBOOK_INVALID_STATE', 'polybook feed: start() was already called');
    this.started = true;
    this.healthTimer = setInterval(() => this.health(), this.options.healthIntervalMs);
    this.rate.at = preciseNow();
    this.add(universe);
  }

  /**
   * Adds markets or tokens (tokens already managed are skipped). Open connections get
   * `subscribe` operation frames; new connections open as needed.
   * @throws PolybookError `POLYBOOK_CAPACITY` when they need more than 255 connections or the table
   *   is full (nothing is added then); TypeError (`POLYBOOK_INVALID_ARGUMENT`) for a malformed entry.
   */
  add(entries: Iterable<UniverseEntry>): void {
    this.checkRunning();
    const now = preciseNow();
    const incoming = this.newGroups(entries);
    if (incoming.length === 0) return;
    let newTokens = 0;
    let notInStore = 0;
    for (const g of incoming) {
      newTokens += g.tokens.length;
      for (const t of g.tokens) if (!this.store.has(t)) notInStore++;
    }
    const plan = planPlacement({
      connections: this.liveConns().map((c) => ({
        index: c.index,
        room: this.options.maxTokensPerConnection - c.tokens.size,
      })),
      keyConn: this.keyConn(incoming),
      groups: incoming,
      cap: this.options.maxTokensPerConnection,
      freeIndexes: this.freeIndexes(),
    });
    if (this.store.size + notInStore > this.store.capacity) {
      throw new PolybookError(
        'POLYBOOK_CAPACITY',
        `polybook feed: the table is full (${this.store.capacity} tokens); create the store with a larger capacity`,
      );
    }
    if (!plan.fits) {
      throw new PolybookError(
        'POLYBOOK_CAPACITY',
        `polybook feed: ${this.groupOf.size + newTokens} tokens need more than ${MAX_FEED_CONNECTIONS} connections ` +
          `at ${this.options.maxTokensPerConnection} per connection; raise maxTokensPerConnection (max 500)`,
      );
    }
    const created = plan.newConnections.map((i) => this.createConnection(i));
    const added = this.place(plan.placements);
    for (const [conn, tokens] of added) {
      this.store.subscribe(tokens, conn.index);
      this.store.assign(tokens, conn.index);
      if (conn.live) {
        conn.sendOp('subscribe', tokens);
        conn.unconfirmedAdds.push({ at: now, tokens });
        this.markPending(tokens, now);
      }
    }
    for (const c of created) c.connect();
  }

  /**
   * Removes tokens: unsubscribed on their connection and removed from the store (their slots are
   * reused). A connection left without tokens is closed.
   */
  remove(tokenIds: Iterable<string>): void {
    this.checkRunning();
    const ids = [...tokenIds];
    const byConn = new Map<FeedConnection, string[]>();
    for (const id of ids) {
      this.pending.delete(id);
      const g = this.groupOf.get(id);
      if (!g) continue;
      this.groupOf.delete(id);
      g.tokens.delete(id);
      const conn = g.conn;
      conn.tokens.delete(id);
      if (g.tokens.size === 0) this.dropGroup(g);
      let list = byConn.get(conn);
      if (!list) {
        list = [];
        byConn.set(conn, list);
      }
      list.push(id);
    }
    for (const [conn, list] of byConn) {
      if (conn.tokens.size === 0) this.retire(conn);
      else conn.sendOp('unsubscribe', list);
    }
    this.store.unsubscribe(ids);
  }

  /**
   * Drops connection `conn`'s socket now and reconnects it (with its backoff, as after any
   * disconnect). Its tokens are invalidated first, synchronously, and come back with fresh books;
   * the other connections are left alone. The `disconnected` event and the `feed.disconnected` log
   * line carry `reason`. Returns false (and does nothing) when the connection has no open socket.
   * @throws PolybookError `POLYBOOK_INVALID_STATE` before `start()`, `POLYBOOK_STOPPED` after `stop()`.
   */
  reconnect(conn: number, reason: string): boolean {
    this.checkRunning();
    const c = Number.isInteger(conn) ? this.conns[conn] : undefined;
    if (!c || c.retired || c.state !== 'open') return false;
    c.kill(reason);
    return true;
  }

  /** Connection index (1..255) that carries `tokenId`, or undefined when the token is not managed. */
  connectionOf(tokenId: string): number | undefined {
    return this.groupOf.get(tokenId)?.conn.index;
  }

  /** Tokens managed on connection `conn`. */
  tokensOf(conn: number): string[] {
    const c = this.conns[conn];
    return c ? [...c.tokens] : [];
  }

  /**
   * Diagnostics of connection `conn`'s data flow (stall detection, docs/FEED.md "Watchdogs"), or
   * undefined when the index is not in use.
   */
  liveness(conn: number): ConnectionLiveness | undefined {
    const c = this.conns[conn];
    if (!c || c.retired) return undefined;
    const open = c.state === 'open';
    return {
      open,
      busy: open && c.busy,
      typicalGapMs: open ? c.typicalGapMs() : NaN,
      stallAfterMs: c.stallAfterMs(),
      silentMs: open ? preciseNow() - c.lastDataAt : NaN,
      confirmed: open && c.booksConfirmed,
    };
  }

  /** Counters and rates of the feed. */
  stats(): FeedStats {
    const c = this.counters;
    let connections = 0;
    let open = 0;
    let tokens = 0;
    for (const conn of this.liveConns()) {
      connections++;
      if (conn.state === 'open') open++;
      tokens += conn.tokens.size;
    }
    return {
      connections,
      open,
      tokens,
      reconnects: c.reconnects,
      resubscriptions: c.resubscriptions,
      messages: c.messages,
      bytes: c.bytes,
      messagesPerSec: this.rate.messagesPerSec,
      bytesPerSec: this.rate.bytesPerSec,
      pongs: c.pongs,
      lastPongLatencyMs: c.pongLatencyLast,
      pongLatencySumMs: c.pongLatencySum,
      controlReplies: c.controlReplies,
      settledCloses: c.settledCloses,
      slowConsumerCloses: c.slowConsumerCloses,
      badFrames: c.badFrames,
      oversizedFrames: c.oversizedFrames,
      protocolErrors: c.protocolErrors,
      stalls: c.stalls,
      internalErrors: c.internalErrors,
      workerQueued: 0,
      workerDropped: 0,
      workerOpsQueued: 0,
    };
  }

  /**
   * Closes every connection cleanly and clears every timer. The tokens' books are invalidated
   * (nothing keeps them current any more). Resolves once the sockets are closed.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    const closing: Promise<void>[] = [];
    const now = preciseNow();
    for (const c of this.liveConns()) {
      this.store.invalidate(c.tokens, now);
      closing.push(c.shutdown());
      this.conns[c.index] = undefined;
    }
    this.store.takeResync();
    this.pending.clear();
    await Promise.all(closing);
  }

  /** {@link SubscriptionManager.stop}, for `await using feed = new SubscriptionManager(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  // ---- internals ----

  private checkRunning(): void {
    if (!this.started) throw new PolybookError('POLYBOOK_INVALID_STATE', 'polybook feed: call start() first');
    if (this.stopped)
      throw new PolybookError('POLYBOOK_STOPPED', 'polybook feed: the manager was stopped; create a new one');
  }

  /** Emits without letting a listener's exception break the feed's own state handling. */
  private safeEmit<K extends keyof FeedEvents>(name: K, ...args: FeedEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: FeedEvents[K]) => boolean)(name, ...args);
    } catch (e) {
      const error = (e as Error)?.message ?? String(e);
      this.log.write('feed.listener_error', `polybook feed: a '${name}' listener threw: ${error}`, {
        listener: name,
        error,
      });
    }
  }

  private liveConns(): FeedConnection[] {
    const out: FeedConnection[] = [];
    for (let i = 1; i <= MAX_FEED_CONNECTIONS; i++) {
      const c = this.conns[i];
      if (c && !c.retired) out.push(c);
    }
    return out;
  }

  private freeIndexes(): number[] {
    const free: number[] = [];
    for (let i = 1; i <= MAX_FEED_CONNECTIONS; i++) if (!this.conns[i]) free.push(i);
    return free;
  }

  /** A new connection at the lowest free index (not connected yet). */
  private newConnection(): FeedConnection {
    const [i] = this.freeIndexes();
    if (i === undefined) {
      throw new PolybookError('POLYBOOK_CAPACITY', `polybook feed: all ${MAX_FEED_CONNECTIONS} connections are in use`);
    }
    return this.createConnection(i);
  }

  /** A new connection at the free index `i` (not connected yet). */
  private createConnection(i: number): FeedConnection {
    const c = new FeedConnection(i, this.host);
    this.conns[i] = c;
    return c;
  }

  /**
   * The new tokens of `entries` (not managed yet, each once), grouped by market.
   * @throws TypeError on a malformed entry; RangeError on a market larger than a connection.
   */
  private newGroups(entries: Iterable<UniverseEntry>): IncomingGroup[] {
    const cap = this.options.maxTokensPerConnection;
    const incoming: IncomingGroup[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      const market = typeof e === 'string' ? undefined : e.market;
      const list = typeof e === 'string' ? [e] : e.tokens;
      if (!list || typeof (list as Iterable<string>)[Symbol.iterator] !== 'function') {
        throw invalidArgument('type', 'polybook feed: a universe entry is a token id or { market?, tokens: string[] }');
      }
      const tokens: string[] = [];
      for (const t of list) {
        if (typeof t !== 'string' || t.length === 0) {
          throw invalidArgument('type', `polybook feed: token ids are non-empty strings, got ${JSON.stringify(t)}`);
        }
        if (this.groupOf.has(t) || seen.has(t)) continue;
        seen.add(t);
        tokens.push(t);
      }
      if (tokens.length === 0) continue;
      if (tokens.length > cap) {
        throw new PolybookError(
          'POLYBOOK_CAPACITY',
          `polybook feed: market ${market ?? '?'} has ${tokens.length} tokens, more than maxTokensPerConnection (${cap})`,
        );
      }
      incoming.push({ key: market ?? tokens[0], market, tokens });
    }
    return incoming;
  }

  /** Connection index of the group registered under each incoming key. */
  private keyConn(incoming: readonly IncomingGroup[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const g of incoming) {
      const group = this.groupByKey.get(g.key);
      if (group && !group.conn.retired) out.set(g.key, group.conn.index);
    }
    return out;
  }

  /** Applies placements (their connections exist): groups, token maps. Returns the new tokens per connection. */
  private place(placements: readonly Placement[]): Map<FeedConnection, string[]> {
    const added = new Map<FeedConnection, string[]>();
    for (const p of placements) {
      const inc = p.group;
      const conn = this.conns[p.conn]!;
      if (p.displaced) {
        this.log.write(
          'feed.market_displaced',
          'polybook feed: market does not fit on its connection; its new tokens go elsewhere',
          {
            market: inc.market,
          },
        );
      }
      let group = p.join ? this.groupByKey.get(inc.key) : undefined;
      if (!group) {
        group = { key: inc.key, market: inc.market, tokens: new Set(), conn };
        conn.groups.add(group);
        if (!this.groupByKey.has(inc.key)) this.groupByKey.set(inc.key, group);
      }
      for (const t of inc.tokens) {
        group.tokens.add(t);
        conn.tokens.add(t);
        this.groupOf.set(t, group);
      }
      let list = added.get(conn);
      if (!list) {
        list = [];
        added.set(conn, list);
      }
      list.push(...inc.tokens);
    }
    return added;
  }

  private dropGroup(g: Group): void {
    g.conn.groups.delete(g);
    if (this.groupByKey.get(g.key) === g) this.groupByKey.delete(g.key);
  }

  /** Closes a connection for good and frees its index. */
  private retire(conn: FeedConnection): void {
    if (conn.retired) return;
    void conn.shutdown();
    if (this.conns[conn.index] === conn) this.conns[conn.index] = undefined;
  }

  private markPending(tokens: Iterable<string>, now: number): void {
    const deadline = now + this.options.hardStaleMs;
    for (const t of tokens) {
      const p = this.pending.get(t);
      if (p) p.deadline = Math.max(p.deadline, deadline);
      else this.pending.set(t, { deadline, tries: 0 });
    }
  }

  private onOpen(conn: FeedConnection, now: number): void {
    if (this.stopped || conn.retired) return;
    if (conn.tokens.size === 0) {
      this.retire(conn);
      return;
    }
    const tokens = [...conn.tokens];
    conn.sendInitial(tokens);
    for (const t of tokens) this.pending.delete(t);
    this.markPending(tokens, now);
    this.log.write('feed.connected', 'polybook feed: connected', { conn: conn.index, tokens: tokens.length });
    this.safeEmit('connected', { conn: conn.index, tokens: tokens.length });
  }

  private onDisconnect(
    conn: FeedConnection,
    code: number,
    reason: string,
    local: string | null,
    wasOpen: boolean,
  ): void {
    if (this.stopped || conn.retired) return;
    const now = preciseNow();
    const tokens = [...conn.tokens];
    const upMs = conn.lastUpMs;
    // Every book of the connection is unusable from now until its fresh book arrives.
    if (wasOpen) this.store.invalidate(tokens, now);
    for (const t of tokens) this.pending.delete(t);
    this.processResync(now);

    if (local === null && code === 1000 && /resolved/i.test(reason)) {
      this.onSettledClose(conn, tokens, reason, now);
      return;
    }
    if (local === null && code === 1013) {
      this.counters.slowConsumerCloses++;
      this.split(conn, now);
    }
    if (wasOpen) conn.backoff.connected(upMs);
    const delay = conn.backoff.next();
    this.counters.reconnects++;
    conn.reconnectTimer = setTimeout(() => conn.connect(), delay);
    if (wasOpen) {
      this.log.write('feed.disconnected', 'polybook feed: disconnected', {
        conn: conn.index,
        code,
        reason,
        reconnectInMs: delay,
      });
      this.safeEmit('disconnected', { conn: conn.index, code, reason, tokens: tokens.length, reconnectInMs: delay });
    } else {
      this.log.write('feed.connect_failed', 'polybook feed: connect failed', {
        conn: conn.index,
        code,
        reason,
        reconnectInMs: delay,
      });
    }
  }

  /** `1000 all subscribed assets resolved`: settle the tokens the server knew about; re-place the rest. */
  private onSettledClose(conn: FeedConnection, tokens: string[], reason: string, now: number): void {
    this.counters.settledCloses++;
    const uncertain = new Set<string>();
    for (const a of conn.lastUnconfirmedAdds) for (const t of a.tokens) uncertain.add(t);
    const settled = tokens.filter((t) => !uncertain.has(t));
    const replace: FeedGroup[] = [];
    for (const g of [...conn.groups]) {
      const rest = [...g.tokens].filter((t) => uncertain.has(t));
      if (rest.length > 0) replace.push({ market: g.market, tokens: rest });
      this.dropGroup(g);
      for (const t of g.tokens) this.groupOf.delete(t);
    }
    conn.tokens.clear();
    this.store.settle(settled, now);
    this.retire(conn);
    this.log.write('feed.settled_close', 'polybook feed: connection closed, all assets resolved', {
      conn: conn.index,
      settled: settled.length,
    });
    this.safeEmit('disconnected', { conn: conn.index, code: 1000, reason, tokens: tokens.length, reconnectInMs: null });
    if (replace.length > 0) this.add(replace);
  }

  /** After a 1013: move about half of the connection's markets to a new connection. */
  private split(conn: FeedConnection, now: number): void {
    if (conn.groups.size < 2 || this.freeIndexes().length === 0) return;
    const groups = [...conn.groups];
    const half = conn.tokens.size / 2;
    const target = this.newConnection();
    let moved = 0;
    const movedTokens: string[] = [];
    // The first market always stays; move markets from the end until about half the tokens moved.
    for (let i = groups.length - 1; i >= 1 && moved < half; i--) {
      const g = groups[i];
      conn.groups.delete(g);
      target.groups.add(g);
      g.conn = target;
      for (const t of g.tokens) {
        conn.tokens.delete(t);
        target.tokens.add(t);
        movedTokens.push(t);
      }
      moved += g.tokens.size;
    }
    this.store.invalidate(movedTokens, now);
    this.store.assign(movedTokens, target.index);
    this.store.takeResync();
    this.log.write('feed.slow_consumer_split', 'polybook feed: slow consumer, splitting connection', {
      conn: conn.index,
      into: target.index,
      moved: movedTokens.length,
    });
    target.connect();
  }

  /**
   * A busy connection looks stalled. The verdict waits for the next turn of the event loop (check
   * phase, after the poll phase has read what the sockets hold): after this thread was blocked, the
   * health timer can run before the frames that arrived meanwhile are read.
   */
  private suspectStall(c: FeedConnection): void {
    if (c.stallSeenAt === c.lastDataAt) return; // already being checked
    const seen = c.lastDataAt;
    c.stallSeenAt = seen;
    setImmediate(() => {
      if (c.stallSeenAt === seen) c.stallSeenAt = NaN;
      if (this.stopped || c.retired || c.state !== 'open') return;
      const now = preciseNow();
      if (!stallConfirmed(c, seen, now)) return;
      this.counters.stalls++;
      this.log.write('feed.stall', 'polybook feed: busy connection stalled (no data); reconnecting', {
        conn: c.index,
        silentMs: Math.round(now - seen),
        stallAfterMs: Math.round(c.stallAfterMs()),
        typicalGapMs: Math.round(c.typicalGapMs() * 10) / 10,
      });
      c.kill('stall');
    });
  }

  /** A token of the connection with a ready book (the server will answer a resubscription). */
  private probeToken(c: FeedConnection): string | undefined {
    for (const t of c.tokens) {
      const st = this.store.state(t);
      if (st?.ready && !st.settled && !st.disabled) return t;
    }
    return undefined;
  }

  private onBadFrame(conn: FeedConnection, now: number): void {
    // A frame we could not parse may have carried changes for any token of this connection.
    this.log.write('feed.bad_frame', 'polybook feed: unparseable frame; resubscribing the connection', {
      conn: conn.index,
    });
    this.store.invalidate(conn.tokens, now);
  }

  private onNewMarketFrame(frame: Buffer): void {
    let v: unknown;
    try {
      v = JSON.parse(frame.toString('utf8'));
    } catch {
      return;
    }
    const events = Array.isArray(v) ? v : [v];
    for (const e of events) {
      if (e && typeof e === 'object' && (e as { event_type?: unknown }).event_type === 'new_market') {
        this.safeEmit('newMarket', e as NewMarketEvent);
      }
    }
  }

  /** Resubscribes (unsubscribe + subscribe) the tokens the store asks a fresh book for. */
  private processResync(now: number): void {
    const ids = this.store.takeResync();
    if (ids.length === 0) return;
    const byConn = new Map<FeedConnection, string[]>();
    for (const id of ids) {
      const g = this.groupOf.get(id);
      if (!g?.conn.live) continue;
      let list = byConn.get(g.conn);
      if (!list) {
        list = [];
        byConn.set(g.conn, list);
      }
      list.push(id);
    }
    for (const [conn, list] of byConn) this.resubscribe(conn, list, now);
  }

  private resubscribe(conn: FeedConnection, ids: string[], now: number): void {
    conn.sendOp('unsubscribe', ids);
    conn.sendOp('subscribe', ids);
    this.counters.resubscriptions += ids.length;
    this.markPending(ids, now);
  }

  /** The health timer: store tick, resyncs, books that never came, watchdogs, rates. */
  private health(): void {
    const now = preciseNow();
    this.store.tick(now);
    this.processResync(now);
    this.retryPendingBooks(now);
    for (const c of this.liveConns()) if (c.state === 'open') this.watch(c, now);
    this.updateRates(now);
  }

  /** Tokens still waiting for a book past their deadline: resubscribe, backing off per token. */
  private retryPendingBooks(now: number): void {
    if (this.pending.size === 0) return;
    const retry = new Map<FeedConnection, string[]>();
    for (const [id, p] of this.pending) {
      const g = this.groupOf.get(id);
      const st = this.store.state(id);
      if (!g || !st || st.ready || st.settled || st.disabled) {
        this.pending.delete(id);
        continue;
      }
      if (now < p.deadline || !g.conn.live) continue;
      p.tries++;
      p.deadline = now + Math.min(MAX_RETRY_MS, this.options.hardStaleMs * 2 ** p.tries);
      let list = retry.get(g.conn);
      if (!list) {
        list = [];
        retry.set(g.conn, list);
      }
      list.push(id);
    }
    for (const [conn, list] of retry) {
      this.log.write('feed.book_retry', 'polybook feed: no book yet; resubscribing', {
        conn: conn.index,
        tokens: list.length,
      });
      conn.sendOp('unsubscribe', list);
      conn.sendOp('subscribe', list);
      this.counters.resubscriptions += list.length;
    }
  }

  /** Acts on the watchdogs' verdict on one open connection. */
  private watch(c: FeedConnection, now: number): void {
    switch (watchdogVerdict(c, now, this.options)) {
      case 'ok':
      case 'probing':
        return;
      case 'pong timeout':
        this.log.write('feed.pong_timeout', 'polybook feed: PONG timeout; reconnecting', { conn: c.index });
        c.kill('pong timeout');
        return;
      case 'stall':
        this.suspectStall(c);
        return;
      case 'probe':
        if (this.probe(c, now)) return;
        this.log.write('feed.silence', 'polybook feed: no data; reconnecting', { conn: c.index });
        c.kill('silence');
        return;
      case 'silence':
        this.log.write('feed.silence', 'polybook feed: no data; reconnecting', { conn: c.index });
        c.kill('silence');
        return;
      case 'unconfirmed':
        this.log.write('feed.unconfirmed', 'polybook feed: connection unconfirmed past hardStaleMs; reconnecting', {
          conn: c.index,
        });
        c.kill('unconfirmed');
        return;
    }
  }

  /** Probes a silent connection by resubscribing one ready token; false when it has none. */
  private probe(c: FeedConnection, now: number): boolean {
    const token = this.probeToken(c);
    if (token === undefined) return false;
    c.probeAt = now;
    this.log.write('feed.silence_probe', 'polybook feed: connection silent; probing', {
      conn: c.index,
      tokenId: token,
    });
    this.resubscribe(c, [token], now);
    return true;
  }

  /** Messages and bytes per second, over windows of about a second. */
  private updateRates(now: number): void {
    const dt = now - this.rate.at;
    if (dt < 1000) return;
    const c = this.counters;
    this.rate.messagesPerSec = ((c.messages - this.rate.messages) * 1000) / dt;
    this.rate.bytesPerSec = ((c.bytes - this.rate.bytes) * 1000) / dt;
    this.rate.messages = c.messages;
    this.rate.bytes = c.bytes;
    this.rate.at = now;
  }
}
