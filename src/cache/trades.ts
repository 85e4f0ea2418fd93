/**
 * Trades of watched tokens, from the feed's `last_trade_price` events (src/feed/trades.ts): a
 * callback form ({@link TradeHub.watch}) and an async iterator ({@link tradesIterator}) with a
 * bounded queue. The hub listens to the feed only while a watch exists, so the feed searches its
 * frames for trades only then; in worker mode the trades cross the thread boundary by message.
 *
 * Queue policy: an iterator whose consumer falls behind keeps the newest `maxQueue` trades; older
 * ones are dropped and counted (`tradesDropped` in the cache counters). A trade is never merged or
 * altered.
 */
import { invalidArgument } from '../errors.js';
import type { Trade } from '../feed/trades.js';

/** Called with each trade of a watched token, in arrival order. */
export type TradeCallback = (trade: Trade) => void;

/** Options of `cache.trades()`. */
export interface TradesOptions {
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /** Trades kept while the consumer is busy; past it the oldest are dropped (and counted). Default 1000. */
  maxQueue?: number;
}

/** Trades an iterator keeps for a busy consumer, by default. */
export const DEFAULT_TRADE_QUEUE = 1000;

/** Where trades come from: the feed (in-thread manager or worker feed). */
export interface TradeSource {
  on(event: 'trade', listener: (trade: Trade) => void): unknown;
  off(event: 'trade', listener: (trade: Trade) => void): unknown;
}

interface Sub {
  tokens: string[];
  cb: TradeCallback;
  /** Ends an iterator when the hub closes. */
  end?: () => void;
}

/** The per-cache hub: one feed listener however many watches. */
export class TradeHub {
  /** Trades handed to callbacks and iterator queues. */
  delivered = 0;
  /** Trades dropped from full iterator queues. */
  dropped = 0;
  private readonly byToken = new Map<string, Set<Sub>>();
  private readonly subs = new Set<Sub>();
  /** The source listened to (null while not listening). */
  private listening: TradeSource | null = null;
  private readonly listener = (t: Trade): void => this.dispatch(t);

  constructor(
    /** The feed, once there is one (null when the cache is switched off). */
    private readonly source: () => TradeSource | null,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Number of active watches (callbacks and iterators). */
  get size(): number {
    return this.subs.size;
  }

  /**
   * Calls `cb` with every trade of `tokenIds` from now on; returns the unsubscribe function
   * (idempotent). `end` is called if the hub closes first.
   */
  watch(tokenIds: Iterable<string>, cb: TradeCallback, end?: () => void): () => void {
    if (typeof cb !== 'function') throw invalidArgument('type', 'polybook: watchTrades needs a callback function');
    const tokens = [...new Set(tokenIds)];
    for (const t of tokens)
      if (typeof t !== 'string' || t.length === 0)
        throw invalidArgument('type', `polybook: token ids are non-empty strings, got ${JSON.stringify(t)}`);
    const sub: Sub = { tokens, cb, end };
    this.subs.add(sub);
    for (const t of tokens) {
      let set = this.byToken.get(t);
      if (!set) {
        set = new Set();
        this.byToken.set(t, set);
      }
      set.add(sub);
    }
    if (this.listening === null) {
      this.listening = this.source();
      this.listening?.on('trade', this.listener);
    }
    return () => this.remove(sub);
  }

  /** Ends every watch (iterators finish) and stops listening to the feed. */
  close(): void {
    for (const sub of [...this.subs]) {
      this.remove(sub);
      sub.end?.();
    }
  }

  private remove(sub: Sub): void {
    if (!this.subs.delete(sub)) return;
    for (const t of sub.tokens) {
      const set = this.byToken.get(t);
      set?.delete(sub);
      if (set?.size === 0) this.byToken.delete(t);
    }
    if (this.subs.size === 0 && this.listening !== null) {
      this.listening.off('trade', this.listener);
      this.listening = null;
    }
  }

  private dispatch(t: Trade): void {
    const set = this.byToken.get(t.tokenId);
    if (set === undefined) return;
    for (const sub of set) {
      this.delivered++;
      try {
        sub.cb(t);
      } catch (e) {
        this.onError(e);
      }
    }
  }
}

/**
 * An async iterator over the trades of `tokenIds`, built on a hub watch, with a queue of at most
 * `maxQueue` trades (the oldest are dropped first). `break` (or `return()`), the signal, or the
 * hub closing ends it at once: trades still queued are not delivered.
 */
export function tradesIterator(
  hub: TradeHub,
  tokenIds: Iterable<string>,
  options: TradesOptions = {},
): AsyncIterableIterator<Trade> {
  const max = options.maxQueue ?? DEFAULT_TRADE_QUEUE;
  if (!Number.isInteger(max) || max < 1 || max > 1_000_000) {
    throw invalidArgument('range', `polybook: maxQueue is an integer from 1 to 1000000, got ${String(max)}`);
  }
  // A ring of `max` entries: `head` is the oldest, `count` how many wait.
  const ring: (Trade | undefined)[] = [];
  let head = 0;
  let count = 0;
  let wake: (() => void) | null = null;
  let ended = false;
  // Ending (return(), the signal, the hub closing) drops what still waits: the next call is done.
  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    options.signal?.removeEventListener('abort', end);
    ring.length = 0;
    count = 0;
    wake?.();
  };
  const unsubscribe = hub.watch(
    tokenIds,
    (t) => {
      if (count === max) {
        // Full: the oldest goes.
        ring[head] = t;
        head = (head + 1) % max;
        hub.dropped++;
      } else {
        ring[(head + count) % max] = t;
        count++;
      }
      wake?.();
    },
    end,
  );
  if (options.signal?.aborted) end();
  else options.signal?.addEventListener('abort', end, { once: true });

  const it: AsyncIterableIterator<Trade> = {
    async next(): Promise<IteratorResult<Trade>> {
      for (;;) {
        if (count > 0) {
          const t = ring[head] as Trade;
          ring[head] = undefined;
          head = (head + 1) % max;
          count--;
          return { value: t, done: false };
        }
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<Trade>> {
      end();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
