/** Public types of the local Polymarket market-channel simulator. */

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
  | 'oversized';

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
];

/** Size of the `oversized` fault's frame by default: one byte over the feed's default `maxFrameBytes` (16 MiB). */
export const DEFAULT_OVERSIZED_BYTES = 16 * 1024 * 1024 + 1;

/**
 * The exchange's top of book of one token at one published version, as the wire states it
 * (`best_bid`/`best_ask` texts: "" for an empty side, "0"/"1" while the market settles).
 */
export interface TopOfBook {
  tokenId: string;
  /** Exchange timestamp of the version (the `timestamp` of its frames). */
  timestamp: number;
  bestBid: string;
  bestAsk: string;
  /** True for the copy an `outOfOrder` fault sent with an earlier timestamp (same content). */
  outOfOrder: boolean;
}

export type MalformedVariant = 'garbage' | 'json' | 'decimal';

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
  /** Serve REST `GET /book?token_id=` and `POST /books` on the same port. Default true. */
  rest?: boolean;
  /**
   * Observer of the truth, for tests and soaks that check what a client serves: called after every
   * change with the new top of book of both tokens of the market (before its frames are sent), for
   * every book of an opening snapshot, and for the earlier-stamped copy of an `outOfOrder` fault.
   * Exceptions are not caught. Default none.
   */
  onTopOfBook?: (top: TopOfBook) => void;
}

export type Level = [price: string, size: string];

/** The simulator's true current book of a token. */
export interface BookState {
  /** Wire order: ascending. */
  bids: Level[];
  /** Wire order: descending. */
  asks: Level[];
  /** As the wire would say: "" for an empty side ("0" / "1" once settled). */
  bestBid: string;
  bestAsk: string;
  /** Exchange time of the last change (ms, decimal text). */
  timestamp: string;
  /** docs/PROTOCOL.md 2.9 hash of this book at `timestamp`. */
  hash: string;
  tickSize: string;
  lastTradePrice: string;
  settled: boolean;
}

export interface MarketInfo {
  /** Numeric market id (as in market_resolved `id`). */
  id: string;
  conditionId: string;
  yes: string;
  no: string;
  tokens: [yes: string, no: string];
  minOrderSize: string;
  negRisk: boolean;
  tickSize: string;
  settled: boolean;
}

export interface TokenInfo {
  tokenId: string;
  conditionId: string;
  outcome: 'Yes' | 'No';
  /** The other token of the market. */
  complement: string;
  minOrderSize: string;
  negRisk: boolean;
  tickSize: string;
  lastTradePrice: string;
  settled: boolean;
}

export interface ConnectionInfo {
  /** 1, 2, 3... in accept order. */
  id: number;
  /** Known, not unsubscribed tokens on the connection (settled ones included). */
  tokens: number;
  customFeatureEnabled: boolean;
  stalled: boolean;
  deaf: boolean;
  framesSent: number;
  bufferedBytes: number;
}

export interface SimulatorStats {
  /** Simulated changes (price_change messages generated, subscribed or not). */
  changes: number;
  /** Every WebSocket message sent (data and text replies). */
  framesSent: number;
  bytesSent: number;
  /** Text `PING`s answered with `PONG`. */
  pingsAnswered: number;
  /** Protocol pings answered with a protocol pong. */
  protocolPongs: number;
  /** Snapshot arrays sent, and the books in them. */
  snapshots: number;
  snapshotBooks: number;
  connectionsAccepted: number;
  slowConsumerCloses: number;
  faultsInjected: Record<FaultName, number>;
}

export interface InjectTarget {
  /** Connection id; default every open connection (token faults: every connection subscribed to `tokenId`). */
  connection?: number;
  /** Token for crossed / malformed / settle; default a (seeded) random token of each target connection. */
  tokenId?: string;
  /** For `malformed`: which kind of garbage; default a seeded choice. */
  variant?: MalformedVariant;
  /** For `oversized`: the frame's length in bytes (default {@link DEFAULT_OVERSIZED_BYTES}). */
  bytes?: number;
}

export interface Simulator {
  /** `ws://host:port/ws/market`. */
  readonly url: string;
  /** `http://host:port` (REST `/book`, `/books`). */
  readonly httpUrl: string;
  readonly port: number;
  /** All token ids, YES then NO per market, in market order. */
  readonly tokens: readonly string[];
  /** Markets with their current tick size and settled flag. */
  readonly markets: readonly MarketInfo[];
  token(tokenId: string): TokenInfo | undefined;
  /** True current book; throws for an unknown token. */
  book(tokenId: string): BookState;
  /** Generates `n` changes now (sends are queued synchronously). Returns the number generated. */
  step(n?: number): number;
  /** Changes the automatic rate (price_change per second; 0 stops it). */
  setRate(rate: number): void;
  connections(): { count: number; connections: ConnectionInfo[] };
  stats(): SimulatorStats;
  /** Empties the market's books (size "0" burst), sends market_resolved, closes fully settled sockets with 1000. Accepts a token id too. */
  settle(conditionId: string): void;
  /** Announces tick_size_change for both tokens; a coarser tick then cancels the off-grid levels. */
  setTickSize(conditionId: string, tickSize: string): void;
  /** Injects a fault; returns the number of connections it was applied to. */
  inject(fault: FaultName, target?: InjectTarget): number;
  /** Ends `stall` / `deaf` on one or every connection. */
  heal(connection?: number): void;
  close(): Promise<void>;
}
