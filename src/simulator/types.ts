/** Public types of the local Polymarket market-channel simulator. */
import type { RestFailure } from './rest.js';

export type { RestFailure };

/** Faults the simulator can inject (see faults.ts for what each looks like to a client). */
export type FaultName =
  | 'drop'
  | 'close1013'
  | 'stall'
  | 'deaf'
  | 'malformed'
  | 'crossed'
  | 'duplicate'
  | 'outOfOrder'
  | 'settle'
  | 'oversized'
  | 'freeze';

/** Every fault name, in documentation order. */
export const FAULT_NAMES: readonly FaultName[] = [
  'drop',
  'close1013',
  'stall',
  'deaf',
  'malformed',
  'crossed',
  'duplicate',
  'outOfOrder',
  'settle',
  'oversized',
  'freeze',
];

/** Size of the `oversized` fault's frame by default: one byte over the feed's default `maxFrameBytes` (16 MiB). */
export const DEFAULT_OVERSIZED_BYTES = 16 * 1024 * 1024 + 1;

/**
 * The exchange's top of book of one token at one published version, as the wire states it
 * (`best_bid`/`best_ask` texts: "" for an empty side, "0"/"1" while the market settles).
 */
export interface TopOfBook {
  /** The token. */
  tokenId: string;
  /** Exchange timestamp of the version (the `timestamp` of its frames). */
  timestamp: number;
  /** Best bid text as the wire states it. */
  bestBid: string;
  /** Best ask text as the wire states it. */
  bestAsk: string;
  /** True for the copy an `outOfOrder` fault sent with an earlier timestamp (same content). */
  outOfOrder: boolean;
}

/** What a `malformed` fault sends: bytes that are not JSON, JSON that is not an event, or a bad decimal. */
export type MalformedVariant = 'garbage' | 'json' | 'decimal';

/** Options of {@link startSimulator}. */
export interface SimulatorOptions {
  /** TCP port, 0 (default) = ephemeral. */
  port?: number;
  /** Loopback address only (127.x.x.x, ::1, localhost). Default 127.0.0.1. */
  host?: string;
  /** WebSocket path, default `/ws/market`; upgrades on any other path get HTTP 404. */
  path?: string;
  /** Number of binary markets (2 tokens each). Default 10. */
  markets?: number;
  /** Seed of everything random (ids, books, evolution, faults). Default 1. */
  seed?: number | string;
  /** price_change messages per second across all markets; 0 = only `step()`. Default 200. */
  rate?: number;
  /** Tokens per connection that get an opening snapshot; beyond, only updates (docs/PROTOCOL.md 1.5). Default 500. */
  maxTokensPerConnection?: number;
  /** A subscribe frame naming more tokens gets no snapshot at all (docs/PROTOCOL.md 1.5). Default 750. */
  maxTokensPerFrame?: number;
  /** Tick size of every market ("0.1" ... "0.0001"); default a seeded mix of "0.01" and "0.001". */
  tickSize?: string;
  /** `min_order_size` of every market (hash input). Default "5". */
  minOrderSize?: string;
  /** Delay before the snapshot answer to a subscription, ms. Default 20; 0 = answer synchronously. */
  snapshotDelayMs?: number;
  /** Exchange clock (epoch ms) used for every timestamp. Default `Date.now`. Timestamps never go backwards (except the outOfOrder fault). */
  clock?: () => number;
  /** Faults injected at random (seeded) while changes are generated. Default none. */
  faults?: FaultName[];
  /** Probability per generated change that one random fault from `faults` is injected. Default 0.001. */
  faultRate?: number;
  /** Probability per generated change of a tick_size_change (a random 0.01 <-> 0.001 market). Default 0.0002. */
  tickChangeRate?: number;
  /** A connection whose unsent data exceeds this is closed with 1013 (slow consumer). Default 32 MiB; 0 = never. */
  maxBufferedBytes?: number;
  /**
   * Serve the REST APIs on the same port (src/simulator/rest.ts): Gamma `/markets/keyset`,
   * `/events/keyset`, `/markets`, `/events`; CLOB `/book`, `POST /books`, `/markets`,
   * `/markets/{condition_id}`, `/tick-size`, `/neg-risk`, `/fee-rate`. Default true.
   */
  rest?: boolean;
  /**
   * The last this many markets are new: Gamma lists them as active, but the CLOB has no book or
   * market for them (and the WebSocket ignores their tokens) until {@link Simulator.hydrate}.
   * Default 0.
   */
  hydratingMarkets?: number;
  /**
   * Observer of the truth, for tests and soaks that check what a client serves: called after every
   * change with the new top of book of both tokens of the market (before its frames are sent), for
   * every book of an opening snapshot, and for the earlier-stamped copy of an `outOfOrder` fault.
   * Exceptions are not caught. Default none.
   */
  onTopOfBook?: (top: TopOfBook) => void;
}

/** One level of a {@link BookState}: price and size texts. */
export type Level = [price: string, size: string];

/** The simulator's true current book of a token. */
export interface BookState {
  /** Wire order: ascending. */
  bids: Level[];
  /** Wire order: descending. */
  asks: Level[];
  /** As the wire would say: "" for an empty side ("0" / "1" once settled). */
  bestBid: string;
  /** As the wire would say: "" for an empty side ("1" / "0" once settled). */
  bestAsk: string;
  /** Exchange time of the last change (ms, decimal text). */
  timestamp: string;
  /** docs/PROTOCOL.md 2.9 hash of this book at `timestamp`. */
  hash: string;
  /** Tick size text. */
  tickSize: string;
  /** Last trade price text. */
  lastTradePrice: string;
  /** Whether the market settled. */
  settled: boolean;
}

/** One simulated binary market. */
export interface MarketInfo {
  /** Numeric market id (as in market_resolved `id`; Gamma's market id). */
  id: string;
  /** Condition id (the `market` of its frames). */
  conditionId: string;
  /** The first outcome's token (Yes, Up, the first team...). */
  yes: string;
  /** The second outcome's token. */
  no: string;
  /** Both token ids, YES then NO. */
  tokens: [yes: string, no: string];
  /** Outcome labels of `tokens`. */
  outcomes: [string, string];
  /** The market's question, as its Gamma and CLOB objects give it. */
  question: string;
  /** Gamma's market slug. */
  slug: string;
  /** Slug of the Gamma event the market belongs to. */
  eventSlug: string;
  /** Gamma's 24-hour volume, USDC (0: omitted by Gamma). */
  volume24h: number;
  /** Gamma's order-book liquidity, USDC (what `top` with `by: 'liquidity'` ranks by). */
  liquidity: number;
  /** Minimum order size in shares, as the book's `min_order_size` text (`"5"`). */
  minOrderSize: string;
  /** `neg_risk`. */
  negRisk: boolean;
  /** Current tick size text. */
  tickSize: string;
  /** Whether the market settled. */
  settled: boolean;
  /** False while the market is in its hydration window (see `hydratingMarkets`). */
  hydrated: boolean;
}

/** One simulated token. */
export interface TokenInfo {
  /** The token id. */
  tokenId: string;
  /** Its market's condition id. */
  conditionId: string;
  /** Outcome label: Yes/No, Up/Down, a team name... (index 0 is `yes` of the market). */
  outcome: string;
  /** The other token of the market. */
  complement: string;
  /** `min_order_size` text. */
  minOrderSize: string;
  /** `neg_risk`. */
  negRisk: boolean;
  /** Current tick size text. */
  tickSize: string;
  /** Last trade price text. */
  lastTradePrice: string;
  /** Whether the market settled. */
  settled: boolean;
}

/** One client connection of the simulator. */
export interface ConnectionInfo {
  /** 1, 2, 3... in accept order. */
  id: number;
  /** Known, not unsubscribed tokens on the connection (settled ones included). */
  tokens: number;
  /** Whether the client asked for the custom features (`best_bid_ask`, `new_market`, `market_resolved`). */
  customFeatureEnabled: boolean;
  /** A `stall` fault is holding its data (PONGs still flow). */
  stalled: boolean;
  /** A `deaf` fault makes it ignore the client (no PONG, no reply). */
  deaf: boolean;
  /** Tokens a `freeze` fault holds the updates of on this connection (their books keep changing at the exchange). */
  frozen: number;
  /** WebSocket messages sent to it. */
  framesSent: number;
  /** Bytes queued and not yet sent. */
  bufferedBytes: number;
}

/** Simulator counters. */
export interface SimulatorStats {
  /** Simulated changes (price_change messages generated, subscribed or not). */
  changes: number;
  /** Every WebSocket message sent (data and text replies). */
  framesSent: number;
  /** Bytes sent. */
  bytesSent: number;
  /** Text `PING`s answered with `PONG`. */
  pingsAnswered: number;
  /** Protocol pings answered with a protocol pong. */
  protocolPongs: number;
  /** Snapshot arrays sent, and the books in them. */
  snapshots: number;
  /** Books in the snapshot arrays. */
  snapshotBooks: number;
  /** WebSocket connections accepted. */
  connectionsAccepted: number;
  /** Connections closed with 1013 (slow consumer). */
  slowConsumerCloses: number;
  /** Faults injected so far, by name. */
  faultsInjected: Record<FaultName, number>;
  /** REST requests answered (Gamma and CLOB), failures included. */
  restRequests: number;
  /** REST requests answered with a failure injected by {@link Simulator.failRest} (a 429 or a 5xx). */
  restFailures: number;
}

/** Where {@link Simulator.inject} applies a fault. */
export interface InjectTarget {
  /** Connection id; default every open connection (token faults: every connection subscribed to `tokenId`). */
  connection?: number;
  /**
   * Token for crossed / malformed / settle; default a (seeded) random token of each target connection.
   * For `freeze`: the one token frozen; default every token of the connection.
   */
  tokenId?: string;
  /** For `malformed`: which kind of garbage; default a seeded choice. */
  variant?: MalformedVariant;
  /** For `oversized`: the frame's length in bytes (default {@link DEFAULT_OVERSIZED_BYTES}). */
  bytes?: number;
}

/** A running simulator (see {@link startSimulator}). */
export interface Simulator {
  /** `ws://host:port/ws/market`. */
  readonly url: string;
  /** `http://host:port` (REST `/book`, `/books`). */
  readonly httpUrl: string;
  /** The TCP port it listens on. */
  readonly port: number;
  /** All token ids, YES then NO per market, in market order. */
  readonly tokens: readonly string[];
  /** Markets with their current tick size and settled flag. */
  readonly markets: readonly MarketInfo[];
  /** A token's market facts, or undefined for an unknown token. */
  token(tokenId: string): TokenInfo | undefined;
  /** True current book; throws for an unknown token. */
  book(tokenId: string): BookState;
  /** Generates `n` changes now (sends are queued synchronously). Returns the number generated. */
  step(n?: number): number;
  /** Changes the automatic rate (price_change per second; 0 stops it). */
  setRate(rate: number): void;
  /** The open client connections. */
  connections(): {
    /** Open connections. */
    count: number;
    /** Each of them. */
    connections: ConnectionInfo[];
  };
  /** Counters since start (also after close). */
  stats(): SimulatorStats;
  /** Empties the market's books (size "0" burst), sends market_resolved, closes fully settled sockets with 1000. Accepts a token id too. */
  settle(conditionId: string): void;
  /** Announces tick_size_change for both tokens; a coarser tick then cancels the off-grid levels. */
  setTickSize(conditionId: string, tickSize: string): void;
  /** Injects a fault; returns the number of connections it was applied to. */
  inject(fault: FaultName, target?: InjectTarget): number;
  /** Ends `stall`, `deaf` and `freeze` on one or every connection. */
  heal(connection?: number): void;
  /**
   * The next REST request(s) fail: by default one 429 with `Retry-After: 1` and
   * `{"error":"Too Many Requests","retry_after_seconds":1}`; or a 500, 502 (Cloudflare's HTML page) or 503.
   */
  failRest(failure?: RestFailure): void;
  /** Ends a new market's hydration window (condition id or token id): its book exists from now on. */
  hydrate(conditionId: string): void;
  /**
   * Closes every connection and the listener. Idempotent. Afterwards the calls that drive the
   * exchange (`step`, `setRate`, `settle`, `setTickSize`, `inject`, `heal`, `failRest`, `hydrate`) throw
   * `POLYBOOK_STOPPED`.
   */
  close(): Promise<void>;
  /** {@link Simulator.close}, for `await using sim = await startSimulator()`. */
  [Symbol.asyncDispose](): Promise<void>;
}
