/**
 * One client connection: its subscription state, its fault state, and its send path
 * (one in-order queue per socket, corked per batch so thousands of small frames cost few syscalls).
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Token } from './market.js';

export interface SendCounters {
  framesSent: number;
  bytesSent: number;
}

const TEXT_FRAME = { binary: false } as const;
const OPEN = 1;

export class Conn {
  /** The first (`type`) frame has been received. */
  initialized = false;
  /** custom_feature_enabled, connection-wide, last write wins. */
  custom = false;
  /** Every id the client asked for and did not unsubscribe (unknown and settled ones included). */
  readonly requested = new Set<string>();
  /** Known tokens on the connection: live, or waiting for their snapshot. */
  readonly tokens = new Set<Token>();
  /** Tokens whose updates are routed to this connection. */
  readonly live = new Set<Token>();

  stalled = false;
  deaf = false;
  /** Tokens whose updates a `freeze` fault holds back on this connection. */
  readonly frozen = new Set<Token>();
  outOfOrder = false;
  duplicateNext = false;
  lastData: Buffer | null = null;
  /** Highest exchange timestamp sent in data so far. */
  lastTs = -Infinity;
  framesSent = 0;
  bytesSent = 0;
  /** Scratch stamp for de-duplicating recipients of one frame. */
  mark = 0;
  private corked = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly socket: Duplex,
    private readonly counters: SendCounters,
    private readonly onCork: (c: Conn) => void,
  ) {}

  get open(): boolean {
    return this.ws.readyState === OPEN;
  }

  /** Market data (snapshots and events): dropped while stalled. `ts` = newest exchange time in it. */
  data(frame: Buffer, ts?: number): void {
    if (this.stalled || !this.write(frame)) return;
    this.lastData = frame;
    if (ts !== undefined && ts > this.lastTs) this.lastTs = ts;
    if (this.duplicateNext) {
      this.duplicateNext = false;
      this.write(frame);
    }
  }

  /** Text replies (PONG, NO NEW ASSETS, ...) and injected frames: sent even while stalled. */
  write(frame: Buffer | string): boolean {
    if (this.ws.readyState !== OPEN) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      this.onCork(this);
    }
    this.ws.send(frame, TEXT_FRAME);
    const n = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    this.framesSent++;
    this.bytesSent += n;
    this.counters.framesSent++;
    this.counters.bytesSent += n;
    return true;
  }

  uncork(): void {
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
}
