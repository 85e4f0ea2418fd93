/**
 * BookServer: one feed for many processes (docs/SERVER.md). A BookCache whose table is a named
 * shared-memory file that strategies in other processes read (`BookStore.attach`,
 * `BookCache.connect`), with a control channel (a Unix socket next to it) through which they add
 * and remove tokens, reference-counted per client and released when a client goes away.
 *
 * Liveness: the server's native ticker writes the table's clock word every millisecond; that is
 * the heartbeat readers check. A clean stop makes it NaN and removes the names; a killed server
 * leaves them, and the next server under the name replaces them (the file's lock tells a live
 * server from a dead one).
 */
import { lstatSync, chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { BookCache, type BookCacheOptions } from '../cache/book-cache.js';
import { normalizeGroups, type MarketGroup } from '../cache/universe.js';
import type { WarmupProgress } from '../cache/warmup.js';
import { resolveBackend } from '../backend/index.js';
import { resolveCacheSettings } from '../cache/env.js';
import { ConfigError, PolybookError, type ErrorCode } from '../errors.js';
import { STATS_WORDS, writeStats } from '../feed/stats.js';
import { FeedLog } from '../feed/log.js';
import { logStyle } from '../feed/options.js';
import { tableShape } from '../table/store.js';
import { H_SERVER_BACKEND, LAYOUT_VERSION, S_TICK_SIZE, SERVER_JS, SERVER_NATIVE, initTable } from '../table/layout.js';
import { TokenDirectory } from './directory.js';
import { checkName, ServerMemory, socketPath, tablePath } from './memory.js';
import {
  DISCOVERY_TIMEOUT_MS,
  LineReader,
  MAX_DISCOVERIES,
  MAX_MARKET_CHARS,
  MAX_QUERY_IDS,
  MAX_REQUEST_BYTES,
  MAX_TOKENS_PER_REQUEST,
  PROTOCOL_VERSION,
  type AcquireAnswer,
  type OpName,
  type Operations,
  type Reply,
} from './protocol.js';
import { checkQuery, type MarketQuery } from '../discovery/queries.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';
import { defaultStateFile, readState, specOf, writeState, type ServerState } from './state.js';

/** Options of {@link BookServer.start}: a name, and every option of `BookCache.start`. */
export interface BookServerOptions extends BookCacheOptions {
  /** The server's name: its table is `/dev/shm/polybook-NAME`, its control socket `/dev/shm/polybook-NAME.sock`. */
  name: string;
  /**
   * The state file (universe and token metadata, for a warm restart), or false for none. Default
   * `~/.local/state/polybook/NAME.json`.
   */
  stateFile?: string | false;
  /** How often the state file is written while running, ms (and on stop). Default 30000. */
  stateIntervalMs?: number;
  /**
   * Tokens that only clients held are subscribed again at a restart (from the state file) and kept
   * this long for the clients to come back, ms; then released unless a client holds them. Default 60000.
   */
  restoreGraceMs?: number;
  /** Most clients connected at once on the control channel. Default 256. */
  maxClients?: number;
}

/** A client of the control channel, as {@link BookServer.clients} lists it. */
export interface ServerClient {
  /** Connection number (1, 2, ... in order of arrival). */
  id: number;
  /** The process id the client said in its hello, null before. */
  pid: number | null;
  /** Tokens it holds. */
  tokens: number;
}

/** How often feed stats are published into the table for connected caches, ms. */
const STATS_PERIOD_MS = 100;
/** Bytes of replies a client may leave unread before it is disconnected. */
const MAX_UNREAD_BYTES = 64 * 2 ** 20;

/** One client connection and the references it holds. */
class Client {
  pid: number | null = null;
  /** Token -> references this client holds (>= 1). */
  readonly held = new Map<string, number>();
  /** Whether a request is being answered asynchronously (a discovery): the next wait in `backlog`. */
  busy = false;
  /** Lines received while busy (null: the oversized-line error), answered in order afterwards. */
  readonly backlog: (string | null)[] = [];
  /** Aborted when the client goes away: its discoveries stop. */
  readonly gone = new AbortController();

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {}
}

/** A refusal: an error reply with this code. */
class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (message: string): Refusal => new Refusal('POLYBOOK_CONTROL', `polybook: ${message}`);

/** Checks an acquire's universe: token ids and `{ market, tokens }` groups, within the limits. */
function checkUniverse(v: unknown): MarketGroup[] {
  if (!Array.isArray(v)) throw refuse('acquire needs "universe": an array of token ids and { market, tokens } groups');
  let n = 0;
  const entries: (string | MarketGroup)[] = [];
  for (const e of v) {
    if (typeof e === 'string') {
      if (!TokenDirectory.fits(e)) throw refuse(`not a token id: ${JSON.stringify(e.slice(0, 120))}`);
      n++;
      entries.push(e);
    } else if (e !== null && typeof e === 'object' && Array.isArray((e as MarketGroup).tokens)) {
      const g = e as MarketGroup;
      if (g.market !== undefined && (typeof g.market !== 'string' || g.market.length > MAX_MARKET_CHARS)) {
        throw refuse(`a group's "market" is a string of at most ${MAX_MARKET_CHARS} characters`);
      }
      for (const t of g.tokens) {
        if (typeof t !== 'string' || !TokenDirectory.fits(t)) {
          throw refuse(`not a token id: ${JSON.stringify(String(t).slice(0, 120))}`);
        }
      }
      n += g.tokens.length;
      entries.push(g.market === undefined ? { tokens: g.tokens } : { market: g.market, tokens: g.tokens });
    } else {
      throw refuse('acquire takes token ids and { market, tokens } groups');
    }
    if (n > MAX_TOKENS_PER_REQUEST) throw refuse(`at most ${MAX_TOKENS_PER_REQUEST} tokens per request`);
  }
  return normalizeGroups(entries);
}

/**
 * Checks an acquire's discovery query as hostile input: the fields and values `BookCache.start`
 * accepts, and the server's own bounds (at most {@link MAX_QUERY_IDS} ids, strings of at most
 * {@link MAX_MARKET_CHARS} characters).
 */
function checkServerQuery(v: unknown): MarketQuery {
  let q: ReturnType<typeof checkQuery>;
  try {
    q = checkQuery(v, 'universe');
  } catch (e) {
    throw refuse(`acquire: ${(e as Error).message.replace(/^polybook: /, '')}`);
  }
  const ids = [...q.slugs, ...q.markets, ...q.tokens];
  if (ids.length > MAX_QUERY_IDS) {
    throw refuse(`acquire: a query names at most ${MAX_QUERY_IDS} slugs, markets and tokens together (${ids.length})`);
  }
  for (const x of [...ids, q.tag ?? '', q.text ?? '']) {
    if (x.length > MAX_MARKET_CHARS) {
      throw refuse(`acquire: a query's slugs, ids, tag and text are at most ${MAX_MARKET_CHARS} characters`);
    }
  }
  return q;
}

/** Gives out at most `max` turns at once; the others wait in order. */
class Turns {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Waits for a turn (rejects when `signal` aborts first); call the returned function to give it back. */
  async take(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.active >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal.removeEventListener('abort', quit);
          resolve();
        };
        const quit = () => {
          const i = this.queue.indexOf(go);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        this.queue.push(go);
        signal.addEventListener('abort', quit, { once: true });
      });
    } else {
      this.active++;
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.queue.shift();
      // The turn passes straight to the next in line.
      if (next) next();
      else this.active--;
    };
  }
}

/**
 * A book server: a feed and its table in shared memory, for strategies in other processes.
 *
 * ```ts
 * await using server = await BookServer.start({ name: 'main', universe: { top: 50 } });
 * // other processes: BookCache.connect('main'), BookStore.attach('main'), polybook watch --attach main
 * ```
 */
export class BookServer {
  /** The server's name. */
  readonly name: string;
  /** The cache that owns the feed and writes the shared table. */
  readonly cache: BookCache;
  /** The table file. */
  readonly tablePath: string;
  /** The control socket. */
  readonly socketPath: string;
  /** The state file, or null. */
  readonly stateFile: string | null;
  /** This server's generation: 1 on a first start under the name, +1 per restart (from the state file). */
  readonly generation: number;
  /** Whether the universe came from the state file (no discovery ran). */
  readonly restored: boolean;
  private readonly memory: ServerMemory;
  private readonly releaseTicker: () => void;
  private readonly net: Server;
  private readonly conns = new Set<Client>();
  private nextClient = 1;
  private readonly stats: Float64Array;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Tokens of the server's own universe (not only clients'). */
  private readonly own = new Set<string>();
  /** Restored tokens only clients held, kept for the grace period. */
  private restoredClientTokens: string[] = [];
  private progress: WarmupProgress | null = null;
  private stopping: Promise<void> | null = null;
  private readonly maxClients: number;
  private readonly spec: string | null;
  private readonly log: FeedLog;
  /** Discoveries of clients' acquires: a few at once. */
  private readonly discoveries = new Turns(MAX_DISCOVERIES);
  /** Aborted by `stop()`: the discoveries still running end. */
  private readonly lifetime = new AbortController();

  private constructor(
    init: {
      name: string;
      cache: BookCache;
      memory: ServerMemory;
      releaseTicker: () => void;
      net: Server;
      stateFile: string | null;
      generation: number;
      restored: ServerState | null;
      spec: string | null;
    },
    options: BookServerOptions,
  ) {
    this.name = init.name;
    this.cache = init.cache;
    this.memory = init.memory;
    this.releaseTicker = init.releaseTicker;
    this.net = init.net;
    this.tablePath = tablePath(init.name);
    this.socketPath = socketPath(init.name);
    this.stateFile = init.stateFile;
    this.generation = init.generation;
    this.restored = init.restored !== null;
    this.spec = init.spec;
    this.maxClients = options.maxClients ?? 256;
    this.log = new FeedLog(options.feed?.logger, logStyle(options.feed?.logger, options.feed?.logStyle));
    this.stats = new Float64Array(init.memory.buffer, init.memory.region.stats, STATS_WORDS);
    this.cache.on('warmupProgress', (p) => {
      this.progress = p;
    });
    const forget = (ids: string[]) => {
      for (const t of ids) this.own.delete(t);
    };
    this.cache.on('evicted', forget);
    this.cache.on('removed', forget);
  }

  /**
   * Creates the table file, starts the cache on it (its universe from the state file when one was
   * saved for the same universe option: no discovery), then listens on the control socket.
   * @throws PolybookError `POLYBOOK_SERVER_IN_USE` (a live server has the name),
   *   `POLYBOOK_SHARED_MEMORY_UNSUPPORTED` (not Linux, or no native addon), `POLYBOOK_SHARED_MEMORY`
   *   (no space in /dev/shm...); everything `BookCache.start` throws.
   */
  static async start(options: BookServerOptions): Promise<BookServer> {
    const name = checkName(options?.name);
    options.signal?.throwIfAborted();
    const settings = resolveCacheSettings(options);
    if (!settings.enabled) {
      throw new ConfigError('enabled', false, 'true: a book server with the integration switched off serves nothing');
    }
    const { capacity, maxDepth } = tableShape({ capacity: options.capacity, maxDepth: settings.maxDepth });
    const stateIntervalMs = options.stateIntervalMs ?? 30_000;
    if (!Number.isInteger(stateIntervalMs) || stateIntervalMs < 100 || stateIntervalMs > 86_400_000) {
      throw new ConfigError('stateIntervalMs', stateIntervalMs, 'an integer from 100 to 86400000 (ms)');
    }
    const graceMs = options.restoreGraceMs ?? 60_000;
    if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > 86_400_000) {
      throw new ConfigError('restoreGraceMs', graceMs, 'an integer from 0 to 86400000 (ms)');
    }
    const maxClients = options.maxClients ?? 256;
    if (!Number.isInteger(maxClients) || maxClients < 1 || maxClients > 10_000) {
      throw new ConfigError('maxClients', maxClients, 'an integer from 1 to 10000');
    }
    if (options.stateFile !== undefined && options.stateFile !== false && typeof options.stateFile !== 'string') {
      throw new ConfigError('stateFile', options.stateFile, 'a file path, or false');
    }
    const backend = resolveBackend(options.backend ?? settings.backend);
    const stateFile = options.stateFile === false ? null : (options.stateFile ?? defaultStateFile(name));
    const spec = specOf(options.universe);
    const saved = stateFile ? await readState(stateFile, name, spec) : { reason: 'none' };
    const restored = 'state' in saved ? saved.state : null;
    const generation = (restored?.generation ?? 0) + 1;

    const memory = ServerMemory.create(name, capacity, maxDepth);
    let releaseTicker: () => void = () => {};
    let cache: BookCache | undefined;
    let net: Server | undefined;
    try {
      initTable(memory.buffer, capacity, maxDepth);
      memory.header[H_SERVER_BACKEND / 4] = backend === 'js' ? SERVER_JS : SERVER_NATIVE;
      memory.stamp(generation);
      // The heartbeat runs before the name exists: a reader never finds a table without one.
      releaseTicker = memory.startTicker();
      memory.publish();
      const directory = new TokenDirectory(memory.buffer, memory.region.directory, capacity);
      const universe = restored ? [...restored.own, ...restored.clients] : options.universe;
      cache = await BookCache.start({
        ...options,
        backend,
        capacity,
        maxDepth,
        universe,
        serverTable: { memory: memory.buffer, name, directory },
      });
      net = await listen(name);
      const server = new BookServer(
        { name, cache, memory, releaseTicker, net, stateFile, generation, restored, spec },
        options,
      );
      server.begin(restored, stateIntervalMs, graceMs);
      return server;
    } catch (e) {
      net?.close();
      await cache?.stop();
      releaseTicker();
      memory.retire();
      memory.close();
      throw e;
    }
  }

  /** After start: the universe bookkeeping, the restored metadata, the timers and the socket's clients. */
  private begin(restored: ServerState | null, stateIntervalMs: number, graceMs: number): void {
    const held = new Set(this.cache.tokens());
    const own = restored ? restored.own.flatMap((g) => g.tokens) : [...held];
    for (const t of own) if (held.has(t)) this.own.add(t);
    if (restored) {
      this.cache.describeMarkets(restored.markets);
      const disabled = restored.disabled.filter((t) => held.has(t));
      if (disabled.length > 0) this.cache.store.setDisabled(disabled, true);
      this.restoredClientTokens = restored.clients.flatMap((g) => g.tokens).filter((t) => !this.own.has(t));
      if (this.restoredClientTokens.length > 0) {
        const t = setTimeout(() => this.endGrace(), graceMs);
        t.unref();
        this.timers.push(t);
      }
    }
    this.publishStats();
    const stats = setInterval(() => this.publishStats(), STATS_PERIOD_MS);
    stats.unref();
    this.timers.push(stats);
    if (this.stateFile) {
      const save = setInterval(() => void this.saveState().catch((e) => this.warn(e)), stateIntervalMs);
      save.unref();
      this.timers.push(save);
    }
    this.net.on('connection', (socket) => this.accept(socket));
    this.log.write(
      'server.started',
      `polybook server ${this.name}: books in ${this.tablePath}, control on ${this.socketPath}`,
      {
        name: this.name,
        table: this.tablePath,
        socket: this.socketPath,
        generation: this.generation,
        restored: this.restored,
      },
    );
  }

  /** The restored tokens no client came back for are released (the clients' own references stay). */
  private endGrace(): void {
    const tokens = this.restoredClientTokens;
    this.restoredClientTokens = [];
    if (tokens.length > 0 && !this.stopping) this.cache.release(tokens);
  }

  /** Clients connected now. */
  clients(): ServerClient[] {
    return [...this.conns].map((c) => ({ id: c.id, pid: c.pid, tokens: c.held.size }));
  }

  /** Writes the state file now (it is also written every `stateIntervalMs` and on stop). */
  async saveState(): Promise<void> {
    if (!this.stateFile) return;
    const held = this.cache.tokens();
    const clientOnly = held.filter((t) => !this.own.has(t));
    const reader = this.cache.store.reader;
    const tickSizes: Record<string, number> = {};
    const disabled: string[] = [];
    for (const t of held) {
      const s = this.cache.store.state(t);
      if (s?.disabled) disabled.push(t);
      const slot = this.cache.store.slotOf(t);
      if (slot >= 0) {
        const tick = reader.f64[(reader.base32(slot) >> 1) + S_TICK_SIZE / 8];
        if (Number.isFinite(tick)) tickSizes[t] = tick;
      }
    }
    const heldSet = new Set(held);
    const state: ServerState = {
      version: 1,
      name: this.name,
      savedAt: Date.now(),
      generation: this.generation,
      spec: this.spec,
      own: this.cache.marketGroups([...this.own].filter((t) => heldSet.has(t))),
      clients: this.cache.marketGroups(clientOnly),
      markets: this.cache.markets(),
      disabled,
      tickSizes,
    };
    await writeState(this.stateFile, state);
  }

  /**
   * Stops cleanly: clients are disconnected, the state file is written, the feed stops, the
   * heartbeat turns NaN (readers miss `server_down` at once) and both names are removed. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearTimeout(t);
      this.lifetime.abort(new PolybookError('POLYBOOK_STOPPED', 'polybook: the book server is stopping'));
      this.net.close();
      for (const c of this.conns) c.socket.destroy();
      this.conns.clear();
      try {
        await this.saveState();
      } catch (e) {
        this.warn(e);
      }
      await this.cache.stop();
      // The socket goes first, while this server still holds the name's lock: once the table's
      // name is removed, a new server may take the name and listen on the same path.
      try {
        removeSocket(this.socketPath);
      } catch {
        // Not ours any more: leave it.
      }
      this.releaseTicker();
      this.memory.retire();
      this.memory.close();
    })();
    return this.stopping;
  }

  /** {@link BookServer.stop}, for `await using server = await BookServer.start(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private warn(e: unknown): void {
    const error = (e as Error).message ?? String(e);
    this.log.write('server.state_error', `polybook server ${this.name}: cannot save the state file: ${error}`, {
      error,
    });
  }

  private publishStats(): void {
    const s = this.cache.feedStatsNow();
    if (s) writeStats(this.stats, s);
  }

  // ---------------------------------------------------------------- control channel

  private accept(socket: Socket): void {
    const client = new Client(this.nextClient++, socket);
    socket.on('error', () => {});
    if (this.stopping || this.conns.size >= this.maxClients) {
      socket.end(
        `${JSON.stringify({ id: null, ok: false, error: { code: 'POLYBOOK_CONTROL', message: `polybook: the server has ${this.maxClients} clients already` } })}\n`,
      );
      return;
    }
    this.conns.add(client);
    const reader = new LineReader(
      MAX_REQUEST_BYTES,
      (line) => this.onLine(client, line),
      () => this.onLine(client, null),
    );
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('close', () => this.gone(client));
  }

  /** A client went away (closed, killed, or dropped): everything it held is released. */
  private gone(client: Client): void {
    if (!this.conns.delete(client)) return;
    client.gone.abort(new PolybookError('POLYBOOK_CONTROL', 'polybook: the client went away'));
    client.backlog.length = 0;
    const tokens = [...client.held.keys()];
    client.held.clear();
    if (tokens.length > 0 && !this.stopping) this.cache.release(tokens);
  }

  /**
   * A request line (null: one over the limit). Replies go out in the order of the requests: while
   * one is answered asynchronously (a discovery), the client's socket is paused and the lines
   * already received wait in its backlog.
   */
  private onLine(client: Client, line: string | null): void {
    if (client.busy) {
      client.backlog.push(line);
      return;
    }
    this.handle(client, line);
  }

  /** Answers one request, at once or, for a promise, when it settles (then the backlog). */
  private handle(client: Client, line: string | null): void {
    if (line === null) {
      this.send(client, null, refuse(`a request line is longer than ${MAX_REQUEST_BYTES} bytes; closing`));
      client.socket.end();
      return;
    }
    if (line.trim() === '') return;
    let id: number | null = null;
    try {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        throw refuse('a request is one JSON object per line');
      }
      if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw refuse('a request is a JSON object');
      const m = msg as Record<string, unknown>;
      if (Number.isSafeInteger(m.id) && (m.id as number) >= 0) id = m.id as number;
      else throw refuse('a request has an "id": a non-negative integer');
      if (typeof m.op !== 'string' || !Object.hasOwn(HANDLERS, m.op)) {
        throw refuse(
          `unknown operation ${JSON.stringify(String(m.op).slice(0, 50))}; known: ${Object.keys(HANDLERS).join(', ')}`,
        );
      }
      const op = m.op as OpName;
      if (op !== 'hello' && client.pid === null) throw refuse('send hello first');
      const result = HANDLERS[op](this, client, m);
      if (result instanceof Promise) {
        const rid = id;
        client.busy = true;
        client.socket.pause();
        result
          .then(
            (r) => this.reply(client, rid, r),
            (e) => this.send(client, rid, e),
          )
          .finally(() => this.resume(client));
        return;
      }
      this.reply(client, id, result);
    } catch (e) {
      this.send(client, id, e);
    }
  }

  /** After an asynchronous answer: the lines that waited, then the socket again. */
  private resume(client: Client): void {
    client.busy = false;
    while (!client.busy && client.backlog.length > 0) this.handle(client, client.backlog.shift() as string | null);
    if (!client.busy && !client.socket.destroyed) client.socket.resume();
  }

  private reply(client: Client, id: number, result: unknown): void {
    this.write(client, { id, ok: true, result });
  }

  private send(client: Client, id: number | null, e: unknown): void {
    const code: ErrorCode = e instanceof Refusal || e instanceof PolybookError ? e.code : 'POLYBOOK_CONTROL';
    const message = e instanceof Error ? e.message : String(e);
    this.write(client, { id, ok: false, error: { code, message } });
    if (code === 'POLYBOOK_LAYOUT_MISMATCH') client.socket.end();
  }

  private write(client: Client, reply: Reply): void {
    const s = client.socket;
    if (s.destroyed || s.writableEnded) return;
    s.write(`${JSON.stringify(reply)}\n`);
    // A client that does not read its replies is not allowed to grow this process.
    if (s.writableLength > MAX_UNREAD_BYTES) s.destroy();
  }

  // ---------------------------------------------------------------- operations

  /** @internal */
  hello(client: Client, m: Record<string, unknown>): Operations['hello']['answer'] {
    if (m.protocol !== PROTOCOL_VERSION) {
      throw new Refusal(
        'POLYBOOK_LAYOUT_MISMATCH',
        `polybook: the server speaks control protocol ${PROTOCOL_VERSION}, the client ${JSON.stringify(m.protocol)}: run the same polybook version`,
      );
    }
    if (m.layoutVersion !== LAYOUT_VERSION) {
      throw new Refusal(
        'POLYBOOK_LAYOUT_MISMATCH',
        `polybook: the server writes layout version ${LAYOUT_VERSION}, the client reads ${JSON.stringify(m.layoutVersion)}: run the same polybook version`,
      );
    }
    client.pid = Number.isSafeInteger(m.pid) ? (m.pid as number) : 0;
    return {
      name: this.name,
      generation: this.generation,
      pid: process.pid,
      protocol: PROTOCOL_VERSION,
      layoutVersion: LAYOUT_VERSION,
      capacity: this.memory.capacity,
      depth: this.memory.depth,
    };
  }

  /**
   * @internal Token ids and groups are held at once; a discovery query is run first (with the
   * server cache's REST URLs, HTTP client and budgets, a few at a time, for at most
   * {@link DISCOVERY_TIMEOUT_MS}), then its markets' groups are held the same way.
   */
  acquire(client: Client, m: Record<string, unknown>): AcquireAnswer | Promise<AcquireAnswer> {
    if (this.stopping) throw refuse('the server is stopping');
    const spec = m.universe;
    if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
      return this.acquireQuery(client, checkServerQuery(spec));
    }
    const groups = checkUniverse(spec);
    const answer = this.hold(client, groups);
    const seen = new Set<DiscoveredMarket>();
    for (const g of groups) {
      for (const t of g.tokens) {
        const d = this.cache.market(t);
        if (d) seen.add(d.market);
      }
    }
    return { ...answer, markets: [...seen], pending: [], warnings: [] };
  }

  private async acquireQuery(client: Client, query: MarketQuery): Promise<AcquireAnswer> {
    const signal = AbortSignal.any([
      client.gone.signal,
      this.lifetime.signal,
      AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    ]);
    let done: (() => void) | undefined;
    let resolved: Awaited<ReturnType<BookCache['resolveQuery']>>;
    try {
      done = await this.discoveries.take(signal);
      resolved = await this.cache.resolveQuery(query, signal);
    } catch (e) {
      throw discoveryFailure(e, signal);
    } finally {
      done?.();
    }
    if (this.stopping) throw refuse('the server is stopping');
    if (!this.conns.has(client)) throw refuse('the client went away');
    const answer = this.hold(client, resolved.groups);
    // After the hold: the cache describes the tokens it holds (and gives their metadata to the writer).
    this.cache.describeMarkets(resolved.markets);
    return { ...answer, markets: resolved.markets, pending: resolved.pending, warnings: resolved.warnings };
  }

  /** Adds this client's references to `groups` (subscribing what the server did not hold), if they fit. */
  private hold(client: Client, groups: MarketGroup[]): { added: number; held: number } {
    const fresh: MarketGroup[] = [];
    let needed = 0;
    for (const g of groups) {
      const tokens = g.tokens.filter((t) => !client.held.has(t));
      for (const t of tokens) if (!this.cache.store.has(t)) needed++;
      if (tokens.length > 0) fresh.push(g.market === undefined ? { tokens } : { market: g.market, tokens });
    }
    const store = this.cache.store;
    if (store.size + needed > store.capacity) {
      throw new Refusal(
        'POLYBOOK_CAPACITY',
        `polybook: the server's table holds ${store.capacity} tokens and ${store.size} are taken; ${needed} more do not fit (start the server with a larger capacity)`,
      );
    }
    if (fresh.length > 0) {
      // Each client's tokens warm on their own: the server never disables them for a slow book.
      this.cache.acquire(fresh, { disableNotReady: false }).catch(() => {});
    }
    for (const g of groups) for (const t of g.tokens) client.held.set(t, (client.held.get(t) ?? 0) + 1);
    return { added: fresh.reduce((n, g) => n + g.tokens.length, 0), held: client.held.size };
  }

  /** @internal */
  release(client: Client, m: Record<string, unknown>): Operations['release']['answer'] {
    const tokens = m.tokens;
    if (!Array.isArray(tokens) || tokens.length > MAX_TOKENS_PER_REQUEST) {
      throw refuse(`release needs "tokens": an array of at most ${MAX_TOKENS_PER_REQUEST} token ids`);
    }
    const gone: string[] = [];
    for (const t of tokens) {
      if (typeof t !== 'string') continue;
      const n = client.held.get(t);
      // Only this client's own references: another client's are never touched.
      if (n === undefined) continue;
      if (n <= 1) {
        client.held.delete(t);
        gone.push(t);
      } else {
        client.held.set(t, n - 1);
      }
    }
    if (gone.length > 0 && !this.stopping) this.cache.release(gone);
    return { released: gone.length, held: client.held.size };
  }

  /** @internal */
  universe(m: Record<string, unknown>): Operations['universe']['answer'] {
    if (m.tokens === undefined) {
      const tokens = this.cache.tokens();
      return { groups: this.cache.marketGroups(tokens), markets: this.cache.markets(), tokens: tokens.length };
    }
    const asked = m.tokens;
    if (!Array.isArray(asked) || asked.length > MAX_TOKENS_PER_REQUEST) {
      throw refuse(`universe: "tokens" is an array of at most ${MAX_TOKENS_PER_REQUEST} token ids`);
    }
    const tokens: string[] = [];
    const markets = new Set<DiscoveredMarket>();
    for (const t of new Set(asked)) {
      if (typeof t !== 'string' || this.cache.refCount(t) === 0) continue;
      tokens.push(t);
      const d = this.cache.market(t);
      if (d) markets.add(d.market);
    }
    return { groups: this.cache.marketGroups(tokens), markets: [...markets], tokens: tokens.length };
  }

  /** @internal */
  metrics(): Operations['metrics']['answer'] {
    const m = this.cache.metrics();
    return { summary: m.summary(), feed: m.feed, clients: this.conns.size, tradingEnabled: this.cache.tradingEnabled };
  }

  /** @internal */
  warmup(): Operations['warmup']['answer'] {
    return {
      progress: this.progress,
      result: this.cache.metrics().warmup,
      tradingEnabled: this.cache.tradingEnabled,
    };
  }
}

/** Each operation's handler (the request fields are unchecked: each handler checks what it reads). */
const HANDLERS: Record<OpName, (s: BookServer, c: Client, m: Record<string, unknown>) => unknown> = {
  hello: (s, c, m) => s.hello(c, m),
  acquire: (s, c, m) => s.acquire(c, m),
  release: (s, c, m) => s.release(c, m),
  universe: (s, _c, m) => s.universe(m),
  metrics: (s) => s.metrics(),
  warmup: (s) => s.warmup(),
};

/** The error reply of a failed discovery: its own error, or what the abort means. */
function discoveryFailure(e: unknown, signal: AbortSignal): unknown {
  if (!signal.aborted) {
    if (e instanceof PolybookError) {
      return new Refusal(e.code, `polybook: acquire: discovery failed: ${e.message.replace(/^polybook: /, '')}`);
    }
    return e;
  }
  const reason: unknown = signal.reason;
  if (reason instanceof PolybookError) return reason;
  return new Refusal(
    'POLYBOOK_NETWORK',
    `polybook: acquire: the discovery took longer than ${DISCOVERY_TIMEOUT_MS} ms (Gamma or the CLOB slow or unreachable); try again later`,
  );
}

/** Removes a stale control socket of ours (never anything else). */
function removeSocket(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket() || st.uid !== process.getuid?.()) {
    throw new PolybookError(
      'POLYBOOK_SERVER_UNSAFE',
      `polybook: ${path} is not a control socket of this user; remove it`,
    );
  }
  unlinkSync(path);
}

/** Listens on the control socket, owner-only from the start (umask), then made exactly 0600. */
async function listen(name: string): Promise<Server> {
  const path = socketPath(name);
  // We hold the name's lock: a socket there is a dead server's.
  removeSocket(path);
  const net = createServer({ allowHalfOpen: false });
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    let mask: number | undefined;
    try {
      mask = process.umask(0o177);
    } catch {
      // A worker thread cannot set the umask: chmod below still makes it 0600 before anything is served.
    }
    try {
      net.listen(path, () => {
        net.off('error', reject);
        resolve();
      });
    } finally {
      if (mask !== undefined) process.umask(mask);
    }
  });
  chmodSync(path, 0o600);
  return net;
}
