/**
 * The exchange core: markets, connections and routing, change generation, settlement and faults.
 * Transport-agnostic apart from `ws` sockets handed in by server.ts.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { Conn } from './connection.js';
import { PRICE_SCALE, tickUnits } from './decimal.js';
import {
  bestBidAskText,
  lastTradeText,
  marketResolvedText,
  priceChangeText,
  restBookText,
  tickSizeChangeText,
  tradeBookText,
} from './events.js';
import { CLOSE_RESOLVED, CLOSE_SLOW_CONSUMER, crossedText, malformedText, oversizedFrame } from './faults.js';
import type { Change, Entry, Market, Token } from './market.js';
import { INVALID_MESSAGE, INVALID_OPERATION, NO_NEW_ASSETS, PONG, parseClientFrame } from './protocol.js';
import { Rng } from './random.js';
import { DEFAULT_OVERSIZED_BYTES, FAULT_NAMES } from './types.js';
import type { ConnectionInfo, FaultName, InjectTarget, MalformedVariant, SimulatorStats, TopOfBook } from './types.js';
import { createMarkets } from './universe.js';
import type { Catalog } from './catalog.js';
import { invalidArgument } from '../errors.js';

export interface ExchangeOptions {
  seed: number | string;
  markets: number;
  rate: number;
  maxTokensPerConnection: number;
  maxTokensPerFrame: number;
  tickSize: string | undefined;
  minOrderSize: string;
  snapshotDelayMs: number;
  clock: () => number;
  faults: FaultName[];
  faultRate: number;
  tickChangeRate: number;
  maxBufferedBytes: number;
  /** The last this many markets start in their hydration window (no book until `hydrate`). */
  hydrating: number;
  onTopOfBook?: ((top: TopOfBook) => void) | undefined;
}

/** The exchange's counters (the REST side keeps its own). */
export type ExchangeStats = Omit<SimulatorStats, 'restRequests' | 'restFailures'>;

const VARIANTS: readonly MalformedVariant[] = ['garbage', 'json', 'decimal'];

export class Exchange {
  readonly markets: Market[];
  /** What Gamma and the CLOB REST API say about the markets. */
  readonly catalog: Catalog;
  readonly tokenIds: string[];
  private readonly byToken = new Map<string, Token>();
  private readonly byCondition = new Map<string, Market>();
  /** Markets still trading, in index order. */
  private readonly active: Market[];
  private readonly evo: Rng;
  private readonly faultRng: Rng;
  private readonly routes = new Map<Token, Set<Conn>>();
  private readonly conns = new Map<number, Conn>();
  private nextConnId = 1;
  private lastTs = 0;
  private stamp = 0;
  private readonly corked: Conn[] = [];
  private flushQueued = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private pump: NodeJS.Timeout | null = null;
  private rate = 0;
  private pumpStart = 0;
  private pumped = 0;
  private closed = false;
  private readonly counters: ExchangeStats;

  constructor(private readonly o: ExchangeOptions) {
    const created = createMarkets({
      seed: o.seed,
      markets: o.markets,
      minOrderSize: o.minOrderSize,
      baseTs: o.clock(),
      ...(o.tickSize === undefined ? {} : { tickSize: o.tickSize }),
    });
    this.markets = created.markets;
    this.catalog = created.catalog;
    for (let i = Math.max(0, this.markets.length - o.hydrating); i < this.markets.length; i++)
      this.markets[i]!.hydrated = false;
    this.tokenIds = [];
    for (const m of this.markets) {
      this.byCondition.set(m.conditionId, m);
      for (const t of [m.yes, m.no]) {
        this.byToken.set(t.id, t);
        this.tokenIds.push(t.id);
        this.routes.set(t, new Set());
        if (t.ts > this.lastTs) this.lastTs = t.ts;
      }
    }
    this.active = [...this.markets];
    this.evo = new Rng(o.seed, 'evolution');
    this.faultRng = new Rng(o.seed, 'faults');
    const faultsInjected = Object.fromEntries(FAULT_NAMES.map((f) => [f, 0])) as Record<FaultName, number>;
    this.counters = {
      changes: 0,
      framesSent: 0,
      bytesSent: 0,
      pingsAnswered: 0,
      protocolPongs: 0,
      snapshots: 0,
      snapshotBooks: 0,
      connectionsAccepted: 0,
      slowConsumerCloses: 0,
      faultsInjected,
    };
    this.setRate(o.rate);
  }

  // ---------------------------------------------------------------- time and sending

  /** Next exchange timestamp: the clock, never below the previous one. */
  private now(): number {
    const t = Math.floor(this.o.clock());
    if (t > this.lastTs) this.lastTs = t;
    return this.lastTs;
  }

  private readonly onCork = (c: Conn): void => {
    this.corked.push(c);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  };

  /** Uncorks every socket written in this batch and closes slow consumers. */
  readonly flush = (): void => {
    this.flushQueued = false;
    const list = this.corked.splice(0);
    for (const c of list) {
      c.uncork();
      if (this.o.maxBufferedBytes > 0 && c.open && c.bufferedBytes > this.o.maxBufferedBytes) {
        this.counters.slowConsumerCloses++;
        c.ws.close(CLOSE_SLOW_CONSUMER.code, CLOSE_SLOW_CONSUMER.reason);
      }
    }
  };

  /**
   * Sends one frame to every connection routed to any of `tokens` (each connection once), except
   * those on which every one of `tokens` it carries is frozen.
   */
  private fanOut(tokens: readonly Token[], text: string, ts: number, customOnly = false): void {
    let buf: Buffer | null = null;
    const stamp = ++this.stamp;
    for (const t of tokens) {
      for (const c of this.routes.get(t)!) {
        if (c.mark === stamp || (customOnly && !c.custom)) continue;
        c.mark = stamp;
        if (c.frozen.size > 0 && this.allFrozen(c, tokens)) continue;
        buf ??= Buffer.from(text);
        c.data(buf, ts);
      }
    }
  }

  /** Whether every one of `tokens` that `c` carries is frozen on it (a `freeze` fault). */
  private allFrozen(c: Conn, tokens: readonly Token[]): boolean {
    for (const t of tokens) if (c.live.has(t) && !c.frozen.has(t)) return false;
    return true;
  }

  private subscribed(m: Market): boolean {
    return this.routes.get(m.yes)!.size > 0 || this.routes.get(m.no)!.size > 0;
  }

  /** Reports the top of book of `t` at version `ts` to the truth observer. */
  private top(t: Token, ts: number, outOfOrder = false): void {
    this.o.onTopOfBook?.({
      tokenId: t.id,
      timestamp: ts,
      bestBid: t.bestBidText(),
      bestAsk: t.bestAskText(),
      outOfOrder,
    });
  }

  /**
   * Sends a price_change (plus the outOfOrder variant to connections that have that fault pending);
   * a connection with frozen tokens gets the other entries only.
   */
  private emitPriceChange(m: Market, entries: Entry[], ts: number): void {
    const text = priceChangeText(m, entries, ts);
    let buf: Buffer | null = null;
    const stamp = ++this.stamp;
    for (const t of [m.yes, m.no]) {
      for (const c of this.routes.get(t)!) {
        if (c.mark === stamp) continue;
        c.mark = stamp;
        const kept = c.frozen.size > 0 ? entries.filter((e) => !c.frozen.has(e.token)) : entries;
        if (kept.length === 0) continue;
        if (c.outOfOrder && !c.stalled) {
          c.outOfOrder = false;
          const back = (Number.isFinite(c.lastTs) ? Math.min(ts, c.lastTs) : ts) - 1 - this.faultRng.int(500);
          if (this.o.onTopOfBook) {
            this.top(m.yes, back, true);
            this.top(m.no, back, true);
          }
          c.data(Buffer.from(priceChangeText(m, kept, back)));
          continue;
        }
        if (kept !== entries) {
          c.data(Buffer.from(priceChangeText(m, kept, ts)), ts);
          continue;
        }
        buf ??= Buffer.from(text);
        c.data(buf, ts);
      }
    }
  }

  private emitChange(ch: Change, ts: number): void {
    const m = ch.market;
    if (this.o.onTopOfBook) {
      this.top(m.yes, ts);
      this.top(m.no, ts);
    }
    if (!this.subscribed(m)) return; // nothing to send: hashes stay lazy
    this.emitPriceChange(m, ch.entries, ts);
    if (ch.trade) {
      const tr = ch.trade;
      for (const t of [tr.token, tr.token.other]) {
        if (this.routes.get(t)!.size > 0) this.fanOut([t], tradeBookText(t), ts);
      }
      const tx =
        '0x' +
        createHash('sha256')
          .update(`${String(this.o.seed)}/trade/${this.counters.changes}`)
          .digest('hex');
      const otherSide = tr.takerSide === 'BUY' ? 'SELL' : 'BUY';
      this.fanOut([tr.token], lastTradeText(tr.token, tr.price, tr.size, tr.takerSide, ts, tx), ts);
      this.fanOut(
        [tr.token.other],
        lastTradeText(tr.token.other, PRICE_SCALE - tr.price, tr.size, otherSide, ts, tx),
        ts,
      );
    }
    for (const t of ch.topChanged) this.fanOut([t], bestBidAskText(t, ts), ts, true);
  }

  // ---------------------------------------------------------------- generation

  setRate(rate: number): void {
    if (!(rate >= 0) || !Number.isFinite(rate)) {
      throw invalidArgument('range', `rate must be a finite number >= 0, got ${rate}`);
    }
    this.rate = rate;
    if (this.pump) clearInterval(this.pump);
    this.pump = null;
    if (rate > 0 && !this.closed) {
      this.pumpStart = performance.now();
      this.pumped = 0;
      this.pump = setInterval(this.onPump, rate >= 2000 ? 5 : 10);
    }
  }

  private readonly onPump = (): void => {
    const due = Math.floor(((performance.now() - this.pumpStart) * this.rate) / 1000) - this.pumped;
    if (due <= 0) return;
    // Never run more than ~100 ms of backlog at once; a lagging simulator just runs slower.
    const n = Math.min(due, Math.max(1, Math.ceil(this.rate / 10)));
    this.pumped += due;
    this.step(n);
  };

  /** Generates `n` changes. */
  step(n = 1): number {
    let done = 0;
    for (let i = 0; i < n && this.active.length > 0; i++) {
      const m = this.evo.pick(this.active);
      const ts = this.now();
      const ch = m.evolve(this.evo, ts);
      this.counters.changes++;
      this.emitChange(ch, ts);
      done++;
      if (this.evo.chance(this.o.tickChangeRate)) {
        const tm = this.evo.pick(this.active);
        if (tm.tick === 100) this.changeTick(tm, 10);
        else if (tm.tick === 10) this.changeTick(tm, 100);
      }
      if (this.o.faults.length > 0 && this.faultRng.chance(this.o.faultRate)) this.injectRandom();
    }
    this.flush();
    return done;
  }

  /** tick_size_change for both tokens, then (coarser tick) cancels of the levels off the new grid. */
  changeTick(m: Market, tick: number): void {
    if (m.settled || tick === m.tick) return;
    const old = m.tick;
    const ts = this.now();
    m.tick = tick;
    m.yes.touch();
    m.no.touch();
    for (const t of [m.yes, m.no]) this.fanOut([t], tickSizeChangeText(t, old, tick, ts), ts);
    if (tick > old) {
      for (const [side, price] of m.offGrid(tick)) {
        const before = [m.yes.bids.best(), m.yes.asks.best()];
        const entries = m.applyPair(m.yes, side, price, 0, ts);
        const moved = before[0] !== m.yes.bids.best() || before[1] !== m.yes.asks.best();
        this.emitChange({ market: m, entries, topChanged: moved ? [m.yes, m.no] : [] }, ts);
      }
    }
    this.flush();
  }

  /** Empties the market with size-"0" entries, sends market_resolved, closes sockets left with only settled tokens. */
  settle(m: Market): void {
    if (m.settled) return;
    const winner = m.yes.ltp >= PRICE_SCALE / 2 ? m.yes : m.no;
    m.settling = true;
    for (const side of ['BUY', 'SELL'] as const) {
      const levels = m.yes.side(side);
      while (levels.length > 0) {
        const ts = this.now();
        const entries = m.applyPair(m.yes, side, levels.best(), 0, ts);
        this.emitChange({ market: m, entries, topChanged: [m.yes, m.no] }, ts);
      }
    }
    m.settled = true;
    this.active.splice(this.active.indexOf(m), 1);
    const ts = this.now();
    this.fanOut([m.yes, m.no], marketResolvedText(m, winner, ts), ts, true);
    const stamp = ++this.stamp;
    for (const t of [m.yes, m.no]) {
      for (const c of this.routes.get(t)!) {
        if (c.mark === stamp) continue;
        c.mark = stamp;
        let all = true;
        for (const x of c.tokens) if (!x.market.settled) all = false;
        if (all) c.ws.close(CLOSE_RESOLVED.code, CLOSE_RESOLVED.reason);
      }
    }
    this.flush();
  }

  // ---------------------------------------------------------------- connections

  attach(ws: WebSocket, socket: Duplex): Conn {
    const c = new Conn(this.nextConnId++, ws, socket, this.counters, this.onCork);
    this.conns.set(c.id, c);
    this.counters.connectionsAccepted++;
    ws.on('message', (data: RawData) => this.onMessage(c, rawText(data)));
    ws.on('ping', (data: Buffer) => {
      if (c.deaf || !c.open) return;
      ws.pong(data);
      this.counters.protocolPongs++;
    });
    ws.on('close', () => this.detach(c));
    ws.on('error', () => ws.terminate());
    return c;
  }

  private detach(c: Conn): void {
    if (!this.conns.delete(c.id)) return;
    for (const t of c.live) this.routes.get(t)!.delete(c);
    c.live.clear();
    c.tokens.clear();
  }

  private onMessage(c: Conn, text: string): void {
    const f = parseClientFrame(text);
    switch (f.kind) {
      case 'ping':
        if (!c.deaf) {
          c.write(PONG);
          this.counters.pingsAnswered++;
        }
        return;
      case 'invalid':
        c.write(INVALID_MESSAGE);
        return;
      case 'invalid-operation':
        c.write(INVALID_OPERATION);
        return;
      case 'initial':
        if (c.initialized) {
          c.write(INVALID_OPERATION);
          return;
        }
        c.initialized = true;
        c.custom = f.custom;
        this.subscribe(c, f.assets, f.initialDump, true);
        return;
      case 'subscribe':
        c.custom = f.custom;
        this.subscribe(c, f.assets, f.initialDump, false);
        return;
      case 'unsubscribe':
        for (const id of f.assets) {
          if (!c.requested.delete(id)) continue;
          const t = this.byToken.get(id);
          if (!t) continue;
          c.tokens.delete(t);
          c.live.delete(t);
          // A later subscription is a fresh one: a freeze does not survive it.
          c.frozen.delete(t);
          this.routes.get(t)!.delete(c);
        }
        return;
    }
  }

  private subscribe(c: Conn, ids: string[], dump: boolean, initial: boolean): void {
    const fresh: string[] = [];
    for (const id of ids) {
      if (c.requested.has(id)) continue;
      c.requested.add(id);
      fresh.push(id);
    }
    if (!initial && fresh.length === 0) {
      c.write(NO_NEW_ASSETS);
      return;
    }
    const sendArray = dump && ids.length <= this.o.maxTokensPerFrame;
    const batch: Token[] = [];
    const snap: boolean[] = [];
    for (const id of fresh) {
      const t = this.byToken.get(id);
      // Unknown, settled or not yet hydrated: silently left out.
      if (!t || t.market.settled || !t.market.hydrated) continue;
      c.tokens.add(t);
      batch.push(t);
      snap.push(sendArray && c.tokens.size <= this.o.maxTokensPerConnection);
    }
    const deliver = (): void => this.deliver(c, batch, snap, sendArray);
    if (this.o.snapshotDelayMs <= 0) deliver();
    else {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        deliver();
      }, this.o.snapshotDelayMs);
      this.timers.add(timer);
    }
  }

  /** Makes the batch live and sends the snapshot array of the tokens within the limit. */
  private deliver(c: Conn, batch: Token[], snap: boolean[], sendArray: boolean): void {
    if (!c.open || this.closed) return;
    const books: string[] = [];
    let newest = -Infinity;
    for (let i = 0; i < batch.length; i++) {
      const t = batch[i]!;
      if (!c.tokens.has(t) || t.market.settled) continue;
      c.live.add(t);
      this.routes.get(t)!.add(c);
      if (snap[i] && !c.frozen.has(t)) {
        if (this.o.onTopOfBook) this.top(t, t.ts);
        books.push(t.openingText());
        if (t.ts > newest) newest = t.ts;
      }
    }
    if (sendArray) {
      c.data(Buffer.from(`[${books.join(',')}]`), newest === -Infinity ? undefined : newest);
      if (!c.stalled) {
        this.counters.snapshots++;
        this.counters.snapshotBooks += books.length;
      }
    }
    this.flush();
  }

  // ---------------------------------------------------------------- faults

  inject(fault: FaultName, target: InjectTarget = {}): number {
    if (!FAULT_NAMES.includes(fault))
      throw invalidArgument('range', `unknown fault "${String(fault)}" (use one of ${FAULT_NAMES.join(', ')})`);
    const token = target.tokenId === undefined ? undefined : this.byToken.get(target.tokenId);
    if (target.tokenId !== undefined && !token) throw invalidArgument('range', `unknown token ${target.tokenId}`);
    let conns: Conn[];
    if (target.connection !== undefined) {
      const c = this.conns.get(target.connection);
      conns = c?.open ? [c] : [];
    } else if (token) conns = [...this.routes.get(token)!].filter((c) => c.open);
    else conns = [...this.conns.values()].filter((c) => c.open);

    if (fault === 'settle') {
      const m =
        token?.market ??
        this.pickToken(conns[0])?.market ??
        (this.active.length ? this.faultRng.pick(this.active) : undefined);
      if (!m || m.settled) return 0;
      const affected = new Set([...this.routes.get(m.yes)!, ...this.routes.get(m.no)!]).size;
      this.counters.faultsInjected.settle++;
      this.settle(m);
      return affected;
    }
    let applied = 0;
    const frame = fault === 'oversized' ? oversizedFrame(target.bytes ?? DEFAULT_OVERSIZED_BYTES) : undefined;
    for (const c of conns) {
      if (frame) {
        if (c.write(frame)) applied++;
        continue;
      }
      if (this.injectOne(fault, c, token, target.variant)) applied++;
    }
    if (applied > 0) this.counters.faultsInjected[fault]++;
    this.flush();
    return applied;
  }

  private pickToken(c: Conn | undefined): Token | undefined {
    if (!c) return undefined;
    const live = [...c.live].filter((t) => !t.market.settled);
    return live.length ? this.faultRng.pick(live) : undefined;
  }

  private injectOne(
    fault: FaultName,
    c: Conn,
    token: Token | undefined,
    variant: MalformedVariant | undefined,
  ): boolean {
    switch (fault) {
      case 'drop':
        c.ws.terminate();
        return true;
      case 'close1013':
        c.ws.close(CLOSE_SLOW_CONSUMER.code, CLOSE_SLOW_CONSUMER.reason);
        return true;
      case 'stall':
        c.stalled = true;
        return true;
      case 'deaf':
        c.deaf = true;
        return true;
      case 'freeze':
        if (token) {
          if (!c.tokens.has(token)) return false;
          c.frozen.add(token);
          return true;
        }
        for (const t of c.tokens) c.frozen.add(t);
        return c.tokens.size > 0;
      case 'duplicate':
        if (c.lastData && !c.stalled) c.write(c.lastData);
        else c.duplicateNext = true;
        return true;
      case 'outOfOrder':
        c.outOfOrder = true;
        return true;
      case 'malformed': {
        const t = token ?? this.pickToken(c);
        c.write(malformedText(variant ?? this.faultRng.pick(VARIANTS), t, this.now(), this.faultRng));
        return true;
      }
      case 'crossed': {
        const t = token ?? this.pickToken(c);
        if (!t || t.market.settled) return false;
        const text = crossedText(t, this.now(), this.faultRng);
        if (text === null) return false;
        c.write(text);
        return true;
      }
      default:
        return false;
    }
  }

  private injectRandom(): void {
    const fault = this.faultRng.pick(this.o.faults);
    const open = [...this.conns.values()].filter((c) => c.open);
    if (fault === 'settle') {
      this.inject('settle', {});
      return;
    }
    if (open.length === 0) return;
    const c = this.faultRng.pick(open);
    this.inject(fault, { connection: c.id });
  }

  heal(connection?: number): void {
    for (const c of this.conns.values()) {
      if (connection !== undefined && c.id !== connection) continue;
      c.stalled = false;
      c.deaf = false;
      c.frozen.clear();
    }
  }

  // ---------------------------------------------------------------- inspection

  token(id: string): Token | undefined {
    return this.byToken.get(id);
  }

  market(idOrToken: string): Market | undefined {
    return this.byCondition.get(idOrToken) ?? this.byToken.get(idOrToken)?.market;
  }

  /** REST `/book` body, or null (404) for unknown, settled and not yet hydrated tokens. */
  restBook(id: string): string | null {
    const t = this.byToken.get(id);
    return t && !t.market.settled && t.market.hydrated ? restBookText(t) : null;
  }

  /** Ends a market's hydration window: the CLOB has its book from now on. */
  hydrate(m: Market): void {
    m.hydrated = true;
  }

  connections(): { count: number; connections: ConnectionInfo[] } {
    const list: ConnectionInfo[] = [];
    for (const c of this.conns.values()) {
      list.push({
        id: c.id,
        tokens: c.tokens.size,
        customFeatureEnabled: c.custom,
        stalled: c.stalled,
        deaf: c.deaf,
        frozen: c.frozen.size,
        framesSent: c.framesSent,
        bufferedBytes: c.bufferedBytes,
      });
    }
    return { count: list.length, connections: list };
  }

  stats(): ExchangeStats {
    return { ...this.counters, faultsInjected: { ...this.counters.faultsInjected } };
  }

  setTickSize(m: Market, tick: string): void {
    this.changeTick(m, tickUnits(tick));
  }

  close(): void {
    this.closed = true;
    if (this.pump) clearInterval(this.pump);
    this.pump = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.conns.values()) c.ws.terminate();
  }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
