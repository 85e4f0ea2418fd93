/**
 * The control channel of a book server (docs/SERVER.md): a Unix socket next to the table file,
 * owner-only. Newline-delimited JSON, one request per line, one reply per request, in order:
 *
 * - request: `{ "id": 1, "op": "acquire", ... }` (`id`: a non-negative integer the reply echoes);
 * - reply: `{ "id": 1, "ok": true, "result": ... }` or `{ "id": 1, "ok": false, "error": { "code", "message" } }`.
 *
 * The server treats every byte as hostile: a line over {@link MAX_REQUEST_BYTES} is answered with
 * an error and the connection closed (its framing is lost); anything else malformed, unknown or
 * over a limit gets an error reply and the connection goes on. No request can touch another
 * client's tokens: a client only ever releases what it acquired.
 */
import type { ErrorCode } from '../errors.js';
import type { FeedStats } from '../feed/stats.js';
import type { MarketGroup } from '../cache/universe.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';
import type { MarketQuery } from '../discovery/queries.js';
import type { CacheSummary } from '../cache/metrics.js';
import type { WarmupProgress, WarmupResult } from '../cache/warmup.js';

/** Version of this protocol; a client of another version is refused at `hello`. */
export const PROTOCOL_VERSION = 2;
/** Longest request line, bytes (a 50,000-token acquire fits). */
export const MAX_REQUEST_BYTES = 8 * 2 ** 20;
/** Longest reply line a client accepts, bytes (a universe of 50,000 markets fits). */
export const MAX_REPLY_BYTES = 512 * 2 ** 20;
/** Most tokens one acquire or release may name. */
export const MAX_TOKENS_PER_REQUEST = 100_000;
/** Longest market id accepted, characters (also: each slug, condition id, token id, tag and text of a query). */
export const MAX_MARKET_CHARS = 200;
/** Most slugs, condition ids and token ids one acquire's discovery query may name, together. */
export const MAX_QUERY_IDS = 1000;
/** Discoveries the server runs at once (for all clients); the others wait their turn. */
export const MAX_DISCOVERIES = 4;
/** Longest a discovery for an acquire may take, ms; then the acquire is answered with `POLYBOOK_NETWORK`. */
export const DISCOVERY_TIMEOUT_MS = 60_000;

/** The server's universe: every token it holds, by market, and what discovery described of them. */
export interface ServerUniverse {
  /** The held tokens, by the market they were added with. */
  groups: MarketGroup[];
  /** The markets discovery (or the state file) described. */
  markets: DiscoveredMarket[];
  /** Tokens held. */
  tokens: number;
}

/** What an `acquire` answers. */
export interface AcquireAnswer {
  /** Tokens the server did not hold before (subscribed for this client). */
  added: number;
  /** Tokens this client holds now. */
  held: number;
  /**
   * The markets the server describes among the acquired tokens: those a query found (its
   * groups are every outcome of each), and for token ids and groups those it knows already.
   */
  markets: DiscoveredMarket[];
  /** A query's markets whose books the CLOB does not have yet (hydration window): not held; acquire them later. */
  pending: DiscoveredMarket[];
  /** What went wrong in a query's discovery without failing it (Gamma down and the CLOB used...). */
  warnings: string[];
}

/** The server's metrics: its cache's summary, its feed stats and its clients. */
export interface ServerMetrics {
  /** The server cache's `metrics().summary()` (its reads are the server's own, not this process's). */
  summary: CacheSummary;
  /** The server's feed stats. */
  feed: FeedStats | null;
  /** Clients connected to the control channel. */
  clients: number;
  /** Whether the server's initial warmup completed. */
  tradingEnabled: boolean;
}

/** The server's initial warmup: its progress while it runs, then its result. */
export interface ServerWarmup {
  /** The last progress reported, null before the first. */
  progress: WarmupProgress | null;
  /** The result once the warmup completed, else null. */
  result: WarmupResult | null;
  /** Whether it completed. */
  tradingEnabled: boolean;
}

/** What each operation takes and answers. */
export interface Operations {
  /** First request of a connection: versions must match. */
  hello: {
    ask: { protocol: number; layoutVersion: number; pid: number };
    answer: {
      name: string;
      generation: number;
      pid: number;
      protocol: number;
      layoutVersion: number;
      capacity: number;
      depth: number;
    };
  };
  /**
   * Adds references of this client to tokens or market groups, or to the markets a discovery query
   * finds (the server runs it with its own REST URLs, HTTP client and budgets); the server
   * subscribes those new to it.
   */
  acquire: { ask: { universe: (string | MarketGroup)[] | MarketQuery }; answer: AcquireAnswer };
  /** Drops references this client holds (tokens it does not hold are ignored). */
  release: { ask: { tokens: string[] }; answer: { released: number; held: number } };
  /**
   * The server's universe: every token it holds, by market, and what discovery described; with
   * `tokens`, only those of them it holds and the markets of those.
   */
  universe: { ask: { tokens?: string[] }; answer: ServerUniverse };
  /** The server's metrics summary, feed stats and clients. */
  metrics: { ask: Record<string, never>; answer: ServerMetrics };
  /** The server's initial warmup: progress while it runs, then its result. */
  warmup: { ask: Record<string, never>; answer: ServerWarmup };
}

/** An operation name. */
export type OpName = keyof Operations;
/** Every operation, in the order of docs/SERVER.md. */
export const OP_NAMES: readonly OpName[] = ['hello', 'acquire', 'release', 'universe', 'metrics', 'warmup'];

/** A reply on the wire. */
export type Reply =
  | { id: number | null; ok: true; result: unknown }
  | { id: number | null; ok: false; error: { code: ErrorCode; message: string } };

/**
 * Splits a byte stream into lines, refusing a line longer than `max` bytes (then `onOversized`
 * is called once and nothing more is delivered).
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private broken = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversized: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.size + (end - start) > this.max) {
        this.broken = true;
        this.parts = [];
        this.onOversized();
        return;
      }
      if (nl < 0) {
        if (end > start) {
          this.parts.push(chunk.subarray(start));
          this.size += end - start;
        }
        return;
      }
      const piece = chunk.subarray(start, nl);
      const line =
        this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8');
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      this.onLine(line);
      if (this.broken) return;
    }
  }
}
