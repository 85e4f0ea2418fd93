/**
 * One market-channel WebSocket: its socket, its tokens, its keepalive FIFO and the hot path
 * (control frames intercepted by comparing bytes, data frames handed to the store as received).
 * Lifecycle decisions (reconnect, split, settle) belong to the manager (manager.ts).
 */
import WebSocket from 'ws';
import type { BookStore } from '../table/store.js';
import { preciseNow } from '../table/clock.js';
import { Backoff } from './backoff.js';
import type { FeedLog } from './log.js';
import { CONTROL_REPLIES, PING, PONG } from '../protocol/control.js';
import { Status } from '../table/writer.js';
import { MAX_TOKENS_PER_CONNECTION, type ResolvedFeedOptions } from './options.js';
import { TRADE_EVENT } from './trades.js';

/** A set of tokens that always share a connection (the outcomes of one market, or one lone token). */
export interface Group {
  /** `market` when given, else the token id itself. */
  readonly key: string;
  readonly market: string | undefined;
  readonly tokens: Set<string>;
  conn: FeedConnection;
}

/** Counters shared by every connection of a manager. */
export class FeedCounters {
  messages = 0;
  bytes = 0;
  controlReplies = 0;
  pongs = 0;
  pongLatencyLast = NaN;
  pongLatencySum = 0;
  reconnects = 0;
  resubscriptions = 0;
  settledCloses = 0;
  slowConsumerCloses = 0;
  badFrames = 0;
  /** Frames longer than `maxFrameBytes` (each closed its connection with 1009). */
  oversizedFrames = 0;
  /** Other WebSocket protocol violations by the server (each closed its connection with 1002). */
  protocolErrors = 0;
  /** Busy connections closed because no data arrived for their stall threshold (`stall`). */
  stalls = 0;
  /** Frames whose ingest threw (an internal error of the native writer; every book was reset). */
  internalErrors = 0;
}

/** What a connection reports to its manager. */
export interface ConnectionHost {
  readonly store: BookStore;
  readonly options: ResolvedFeedOptions;
  readonly log: FeedLog;
  readonly counters: FeedCounters;
  /** Whether data frames must be scanned for `new_market` events. */
  scanNewMarkets(): boolean;
  /** Whether data frames must be scanned for `last_trade_price` events (trade listeners). */
  scanTrades(): boolean;
  onOpen(conn: FeedConnection, now: number): void;
  /** The socket is gone. `local` names why we closed it ourselves, else null. */
  onDisconnect(conn: FeedConnection, code: number, reason: string, local: string | null, wasOpen: boolean): void;
  onControl(conn: FeedConnection, text: string): void;
  onNewMarketFrame(conn: FeedConnection, frame: Buffer): void;
  onTradeFrame(conn: FeedConnection, frame: Buffer): void;
  /** A frame the store could not parse at all: the changes it carried are lost. */
  onBadFrame(conn: FeedConnection, now: number): void;
  onConfirmed(conn: FeedConnection, sentAt: number): void;
  /** The store has tokens waiting for a fresh book (resubscribe them soon, not at the next health tick). */
  onResync(): void;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

const PONG_BYTES = Buffer.from(PONG);
const NEW_MARKET = Buffer.from('new_market');
const TRADE = Buffer.from(TRADE_EVENT);
const REPLIES: ReadonlySet<string> = new Set(CONTROL_REPLIES);
/** Longest control text plus some whitespace. */
const MAX_CONTROL_BYTES = Math.max(...CONTROL_REPLIES.map((r) => r.length)) + 8;

/**
 * Busy-connection stall detection (docs/FEED.md "Watchdogs"). Per socket, on every data frame:
 * a data-frame count decayed over STALL_SHORT_WINDOW_MS (about the frames of the last 5 s), and the
 * time-weighted mean gap between data frames, sum(gap^2) / sum(gap), decayed over a short and a long
 * window. A burst of frames adds almost nothing to either sum, so bursts do not shrink the estimate;
 * one long gap raises it at once (fast to turn conservative, slow to turn aggressive).
 */
export const STALL_SHORT_WINDOW_MS = 5000;
export const STALL_LONG_WINDOW_MS = 30_000;
/** A connection is busy when its decayed data-frame count reaches this (about 4 frames/s sustained). */
export const STALL_BUSY_FRAMES = 20;

/**
 * One WebSocket connection with a fixed index (1..255) in the table's `confirmed[]` array. The
 * index survives reconnects; the socket does not.
 */
export class FeedConnection {
  state: ConnectionState = 'idle';
  /** Token groups on this connection. */
  readonly groups = new Set<Group>();
  /** Every token on this connection. */
  readonly tokens = new Set<string>();
  /** Whether the current socket has sent its first (type: market) frame. */
  initialSent = false;
  /** Send time of the PING whose PONG arrived last (ms); 0 = none on this socket. */
  confirmedAt = 0;
  /** Receive time of the last data frame on the current socket (ms). */
  lastDataAt = 0;
  /** Receive time of the first data frame on the current socket (ms), 0 = none yet. */
  firstDataAt = 0;
  /**
   * Whether the current socket is confirmed: a PONG answered a PING sent after its first data frame
   * (the opening snapshot) arrived, so the server serves it end to end. Confirmation resets the
   * reconnect backoff.
   */
  booksConfirmed = false;
  /** When the silence watchdog last probed this socket (ms), 0 = never. */
  probeAt = 0;
  /** `lastDataAt` when the stall watchdog last found this socket silent past its threshold (NaN = none). */
  stallSeenAt = NaN;
  /** Receive time of the previous data frame of this socket for the gap estimate (0 = none yet). */
  private gapAt = 0;
  /** Data frames of this socket, decayed over STALL_SHORT_WINDOW_MS. */
  private recentFrames = 0;
  /** Decayed sum(gap) and sum(gap^2), short window. */
  private gapShort = 0;
  private gapShort2 = 0;
  /** Decayed sum(gap) and sum(gap^2), long window. */
  private gapLong = 0;
  private gapLong2 = 0;
  /** When the current socket opened (ms), 0 while not open. */
  openedAt = 0;
  /** Operation-frame subscriptions not yet proven processed by a PONG (see the 1000 close handling). */
  unconfirmedAdds: { at: number; tokens: string[] }[] = [];
  /** How long the last socket was open (ms), set when it goes away. */
  lastUpMs = 0;
  /** `unconfirmedAdds` of the last socket, kept when it goes away. */
  lastUnconfirmedAdds: { at: number; tokens: string[] }[] = [];
  readonly backoff: Backoff;
  reconnectTimer: NodeJS.Timeout | undefined;
  /** Set once the manager retired this connection (settled, emptied, stopped). */
  retired = false;

  private ws: WebSocket | null = null;
  private pingTimer: NodeJS.Timeout | undefined;
  /** Send times of unanswered PINGs, oldest first (ring buffer). */
  private pings: number[] = [];
  private pingHead = 0;
  constructor(
    readonly index: number,
    private readonly host: ConnectionHost,
  ) {
    this.backoff = new Backoff(host.options.backoff);
  }

  /** Opens a new socket. */
  connect(): void {
    if (this.retired) return;
    this.reconnectTimer = undefined;
    this.state = 'connecting';
    this.initialSent = false;
    const ws = new WebSocket(this.host.options.url, {
      maxPayload: this.host.options.maxFrameBytes,
      skipUTF8Validation: true,
      handshakeTimeout: 15_000,
    });
    this.ws = ws;
    ws.on('open', () => {
      if (this.ws !== ws) return;
      const now = preciseNow();
      this.state = 'open';
      this.openedAt = now;
      this.lastDataAt = now;
      this.firstDataAt = 0;
      this.booksConfirmed = false;
      this.confirmedAt = 0;
      this.probeAt = 0;
      this.resetGaps();
      this.host.onOpen(this, now);
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      this.onMessage(data as Buffer, isBinary);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      const wasOpen = this.state === 'open';
      this.detach();
      this.host.onDisconnect(this, code, reason.toString(), null, wasOpen);
    });
    ws.on('error', (err) => {
      if (this.ws !== ws) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
        // The server broke the protocol (a frame over maxFrameBytes, a bad opcode, ...). `ws` has sent
        // its close frame and stopped reading; do not wait up to 30 s for the server to answer it:
        // the connection is gone now (its tokens are invalidated) and reconnects.
        const oversized = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
        if (oversized) this.host.counters.oversizedFrames++;
        else this.host.counters.protocolErrors++;
        this.host.log.write(
          oversized ? 'feed.frame_too_large' : 'feed.protocol_error',
          `polybook feed: ${oversized ? 'frame over maxFrameBytes' : 'protocol error'}; reconnecting`,
          { conn: this.index, error: err.message },
        );
        this.drop(oversized ? 1009 : 1002, oversized ? 'frame too large' : 'protocol error');
        return;
      }
      this.host.log.write('feed.socket_error', 'polybook feed: socket error', { conn: this.index, error: err.message });
    });
  }

  /** Whether operation frames can be sent now. */
  get live(): boolean {
    return this.state === 'open' && this.initialSent;
  }

  /** Sends the first frame with every token of the connection, then starts the keepalive. */
  sendInitial(tokens: string[]): void {
    const ws = this.ws;
    if (!ws || this.state !== 'open') return;
    ws.send(
      JSON.stringify({
        assets_ids: tokens,
        type: 'market',
        initial_dump: true,
        custom_feature_enabled: this.host.options.customFeatures,
      }),
    );
    this.initialSent = true;
    this.ping();
    this.pingTimer = setInterval(() => this.ping(), this.host.options.confirmIntervalMs);
  }

  /** Sends `subscribe` or `unsubscribe` operation frames (at most 500 ids each). */
  sendOp(operation: 'subscribe' | 'unsubscribe', ids: readonly string[]): void {
    const ws = this.ws;
    if (!ws || !this.live || ids.length === 0) return;
    for (let i = 0; i < ids.length; i += MAX_TOKENS_PER_CONNECTION) {
      ws.send(
        JSON.stringify({
          operation,
          assets_ids: ids.slice(i, i + MAX_TOKENS_PER_CONNECTION),
          custom_feature_enabled: this.host.options.customFeatures,
        }),
      );
    }
  }

  /**
   * Whether the current socket is busy: enough data frames recently (as of its last data frame) for a
   * silence of `stallAfterMs()` to mean a stall. Always false with `stallFactor` 0.
   */
  get busy(): boolean {
    return this.recentFrames >= STALL_BUSY_FRAMES && this.host.options.stallFactor > 0;
  }

  /** Typical gap between data frames of the current socket, ms (time-weighted mean; 0 before two frames). */
  typicalGapMs(): number {
    const s = this.gapShort > 0 ? this.gapShort2 / this.gapShort : 0;
    const l = this.gapLong > 0 ? this.gapLong2 / this.gapLong : 0;
    return s > l ? s : l;
  }

  /**
   * How long the current socket may go without data before it is judged stalled, ms: for a busy
   * socket `stallFactor` x its typical gap, clamped to [`stallMinMs`, `silenceTimeoutMs`]; for a
   * quiet one `silenceTimeoutMs` (the silence watchdog's probe decides), Infinity when that is off.
   */
  stallAfterMs(): number {
    const o = this.host.options;
    const quiet = o.silenceTimeoutMs > 0 ? o.silenceTimeoutMs : Infinity;
    if (!this.busy) return quiet;
    const t = o.stallFactor * this.typicalGapMs();
    return t < o.stallMinMs ? o.stallMinMs : t > quiet ? quiet : t;
  }

  /**
   * Latest time a PONG may confirm this socket's books as current, ms: a PONG proves that what the
   * server sent arrived, not that it sent everything (a stall keeps answering PING). Busy socket:
   * its last data plus `stallAfterMs()`. Quiet socket: its last data plus the silence watchdog's
   * whole allowance (`silenceTimeoutMs` + `hardStaleMs`, when it recycles the socket anyway).
   */
  confirmLimit(): number {
    const o = this.host.options;
    if (this.busy) return this.lastDataAt + this.stallAfterMs();
    return o.silenceTimeoutMs > 0 ? this.lastDataAt + o.silenceTimeoutMs + o.hardStaleMs : Infinity;
  }

  /** Send time of the oldest unanswered PING, or NaN. */
  oldestPing(): number {
    return this.pingHead < this.pings.length ? this.pings[this.pingHead] : NaN;
  }

  /** Drops the socket at once (watchdogs) and reports the disconnect. */
  kill(reason: string): void {
    this.drop(1006, reason);
  }

  /** Drops the socket at once and reports the disconnect with `code` (we closed it: `reason` is local). */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    const wasOpen = this.state === 'open';
    this.detach();
    ws.terminate();
    this.host.onDisconnect(this, code, reason, reason, wasOpen);
  }

  /** Closes the socket cleanly (code 1000) without reporting; resolves once it is closed. */
  shutdown(timeoutMs = 1000): Promise<void> {
    this.retired = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const ws = this.ws;
    this.detach();
    this.state = 'closed';
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, timeoutMs);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
    });
  }

  private detach(): void {
    this.lastUpMs = this.openedAt > 0 ? preciseNow() - this.openedAt : 0;
    this.lastUnconfirmedAdds = this.unconfirmedAdds;
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.ws = null;
    this.pings = [];
    this.pingHead = 0;
    this.initialSent = false;
    this.openedAt = 0;
    this.unconfirmedAdds = [];
    if (this.state !== 'closed') this.state = 'backoff';
  }

  private ping(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.pingHead > 1024 && this.pingHead * 2 > this.pings.length) {
      this.pings = this.pings.slice(this.pingHead);
      this.pingHead = 0;
    }
    this.pings.push(preciseNow());
    ws.send(PING);
  }

  private onPong(now: number): void {
    const c = this.host.counters;
    if (this.pingHead >= this.pings.length) return; // unsolicited
    const sentAt = this.pings[this.pingHead++];
    // Confirmation stops at the data: min(sentAt, confirmLimit()). confirmed[] only moves forward
    // (the writer keeps the max), so a lower limit simply leaves it where it is.
    const limit = this.confirmLimit();
    this.host.store.confirm(this.index, sentAt < limit ? sentAt : limit);
    this.confirmedAt = sentAt;
    const rtt = now - sentAt;
    c.pongs++;
    c.pongLatencyLast = rtt;
    c.pongLatencySum += rtt;
    if (this.unconfirmedAdds.length > 0) this.host.onConfirmed(this, sentAt);
    if (!this.booksConfirmed && this.firstDataAt > 0 && sentAt >= this.firstDataAt) this.confirmBooks(now);
  }

  /**
   * The socket works end to end: its data arrived and a PONG sent after it came back. Its backoff
   * starts over, so its next failure reconnects after `minMs` however short its life (a socket that
   * fails before this point keeps backing off).
   */
  private confirmBooks(now: number): void {
    this.booksConfirmed = true;
    this.backoff.reset();
    this.host.log.write('feed.confirmed', 'polybook feed: connection confirmed (data, then PONG); backoff reset', {
      conn: this.index,
      afterMs: Math.round(now - this.openedAt),
    });
  }

  private resetGaps(): void {
    this.gapAt = 0;
    this.recentFrames = 0;
    this.gapShort = this.gapShort2 = this.gapLong = this.gapLong2 = 0;
    this.stallSeenAt = NaN;
  }

  /** One data frame at `now`: the decayed count and gap sums (O(1), no allocation). */
  private countData(now: number): void {
    const prev = this.gapAt;
    this.gapAt = now;
    if (prev === 0) {
      this.recentFrames = 1;
      return;
    }
    const g = now > prev ? now - prev : 0;
    const ds = Math.exp(-g / STALL_SHORT_WINDOW_MS);
    const dl = Math.exp(-g / STALL_LONG_WINDOW_MS);
    const g2 = g * g;
    this.recentFrames = this.recentFrames * ds + 1;
    this.gapShort = this.gapShort * ds + g;
    this.gapShort2 = this.gapShort2 * ds + g2;
    this.gapLong = this.gapLong * dl + g;
    this.gapLong2 = this.gapLong2 * dl + g2;
  }

  /** The hot path. */
  private onMessage(buf: Buffer, isBinary: boolean): void {
    const now = preciseNow();
    const len = buf.length;
    const c = this.host.counters;
    c.messages++;
    c.bytes += len;
    if (!isBinary && len <= MAX_CONTROL_BYTES && len > 0) {
      const b0 = buf[0];
      // Data frames start with '[' or '{' (0x5b, 0x7b); control text with a capital letter.
      if (b0 !== 0x5b && b0 !== 0x7b) {
        if (len === 4 && buf.equals(PONG_BYTES)) return this.onPong(now);
        const text = buf.toString('latin1').trim();
        if (text === PONG) return this.onPong(now);
        if (REPLIES.has(text)) {
          c.controlReplies++;
          this.host.onControl(this, text);
          return;
        }
      }
    }
    this.lastDataAt = now;
    if (this.firstDataAt === 0) this.firstDataAt = now;
    this.countData(now);
    let status: number;
    try {
      status = this.host.store.ingest(buf, now);
    } catch (err) {
      // Bad input never throws; only an internal error of the native writer does, after it reset
      // every book of the table (docs/DESIGN.md section 8). Fetch fresh books; do not let the
      // error escape into ws's message handler.
      c.internalErrors++;
      this.host.log.write(
        'feed.internal_error',
        'polybook feed: internal error while ingesting a frame; every book was reset and is being resubscribed',
        { conn: this.index, error: err instanceof Error ? err.message : String(err) },
      );
      this.host.onResync();
      return;
    }
    if (status & Status.resync) this.host.onResync();
    if (status & Status.badFrame) {
      c.badFrames++;
      this.host.onBadFrame(this, now);
    }
    if (this.host.scanNewMarkets() && buf.indexOf(NEW_MARKET) !== -1) this.host.onNewMarketFrame(this, buf);
    if (this.host.scanTrades() && buf.indexOf(TRADE) !== -1) this.host.onTradeFrame(this, buf);
  }
}
