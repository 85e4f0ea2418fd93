/**
 * WarmupManager: waits, event-driven (through the watch hub, no polling), until enough of a set of
 * tokens has a ready book, or a timeout passes. Tokens still not ready then are disabled for the
 * session (reads miss with reason `disabled`) and listed in the result. Optionally seeds books
 * once with REST `POST /books` while it runs (src/cache/rest.ts); the REST client is closed when it ends.
 */
import { preciseNow } from '../table/clock.js';
import { ConfigError } from '../errors.js';
import type { RestFetchResult, RestWarmupClient } from './rest.js';
import type { WatchHub } from './watch.js';

/** What a warmup reports on completion. */
export interface WarmupResult {
  /** Tokens with a ready book when warmup ended. */
  ready: number;
  /** Tokens warmed. */
  total: number;
  /** ready / total (1 for an empty set). */
  fraction: number;
  /** True when the timeout passed before the fraction reached the minimum. */
  timedOut: boolean;
  /** Tokens not ready at the end, disabled for the session (unless `disableNotReady: false`). */
  disabled: string[];
  /** How long the warmup took, ms. */
  elapsedMs: number;
  /** The REST fetch, when one ran (it may still have been running when warmup ended: then partial). */
  rest?: RestFetchResult & {
    /** Why the fetch did not complete, when it did not. */
    error?: string;
  };
}

/** Warmup progress, reported on start and whenever the ready count changes. */
export interface WarmupProgress {
  /** Tokens with a ready book. */
  ready: number;
  /** Tokens warmed. */
  total: number;
  /** ready / total. */
  fraction: number;
  /** Time since the warmup started, ms. */
  elapsedMs: number;
}

/** The store calls a warmup needs (a BookStore fits). */
export interface WarmupStore {
  state(tokenId: string): { ready: boolean; disabled: boolean; settled: boolean } | null;
  setDisabled(tokenIds: Iterable<string>, disabled?: boolean): void;
  restBook(json: string, nowMs?: number): void;
  setMeta(tokenId: string, minOrderSize: string, negRisk: boolean): void;
}

export interface WarmupOptions {
  /** Completes once this fraction of the tokens is ready, 0..1. Default 0.8. */
  minReadyFraction?: number;
  /** Gives up after this, ms. Default 10000. */
  timeoutMs?: number;
  /** Called on start and whenever the ready count changes. */
  onProgress?: (p: WarmupProgress) => void;
  /** Disable the tokens not ready at the end. Default true. */
  disableNotReady?: boolean;
  /** One-time REST seeding while warmup runs; closed (refusing further calls) when warmup ends. */
  rest?: RestWarmupClient;
  /** Which tokens REST fetches: all (default: also enables hash checks) or only those not ready. */
  restTokens?: 'all' | 'notReady';
  /** Delay before the REST fetch starts, ms. Default 0. */
  restAfterMs?: number;
  /**
   * Cancels the warmup: `run()` rejects with the signal's reason, the timer, the watch and the REST
   * client are released at once, and nothing is disabled.
   */
  signal?: AbortSignal;
  /** @internal */
  now?: () => number;
}

function isReady(s: { ready: boolean; disabled: boolean; settled: boolean } | null): boolean {
  return s?.ready === true && !s.disabled && !s.settled;
}

/**
 * Runs one warmup over a fixed set of tokens. `run()` may be called once; its promise is shared.
 */
export class WarmupManager {
  readonly tokens: readonly string[];
  private readonly minReadyFraction: number;
  private readonly timeoutMs: number;
  private readonly ready = new Set<string>();
  private promise: Promise<WarmupResult> | undefined;
  private finished: WarmupResult | undefined;

  constructor(
    private readonly store: WarmupStore,
    private readonly hub: WatchHub,
    tokens: Iterable<string>,
    private readonly options: WarmupOptions = {},
  ) {
    this.tokens = [...new Set(tokens)];
    const f = options.minReadyFraction ?? 0.8;
    if (typeof f !== 'number' || !(f >= 0 && f <= 1))
      throw new ConfigError('warmupMinReadyFraction', f, 'a number from 0 to 1');
    const t = options.timeoutMs ?? 10_000;
    if (typeof t !== 'number' || !(t >= 0) || !Number.isFinite(t))
      throw new ConfigError('warmupTimeoutMs', t, 'a finite number of ms >= 0');
    this.minReadyFraction = f;
    this.timeoutMs = t;
  }

  /** The result once finished, else undefined. */
  get result(): WarmupResult | undefined {
    return this.finished;
  }

  /** Starts the warmup (once) and resolves when it completes. Rejects only when `signal` aborts it. */
  run(): Promise<WarmupResult> {
    this.promise ??= this.execute();
    return this.promise;
  }

  private execute(): Promise<WarmupResult> {
    const now = this.options.now ?? preciseNow;
    const t0 = now();
    const total = this.tokens.length;
    const fraction = () => (total === 0 ? 1 : this.ready.size / total);
    const progress = (): WarmupProgress => ({
      ready: this.ready.size,
      total,
      fraction: fraction(),
      elapsedMs: now() - t0,
    });
    const report = () => {
      try {
        this.options.onProgress?.(progress());
      } catch (e) {
        console.error('polybook: warmup onProgress threw', e);
      }
    };

    return new Promise<WarmupResult>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let restTimer: NodeJS.Timeout | undefined;
      let restResult: (RestFetchResult & { error?: string }) | undefined;
      const rest = this.options.rest;
      const signal = this.options.signal;
      if (signal?.aborted) {
        rest?.close();
        reject(signal.reason);
        return;
      }

      const release = () => {
        done = true;
        clearTimeout(timer);
        clearTimeout(restTimer);
        unwatch();
        rest?.close();
        signal?.removeEventListener('abort', abort);
      };
      const abort = () => {
        if (done) return;
        release();
        reject(signal?.reason);
      };
      const finish = (timedOut: boolean) => {
        if (done) return;
        release();
        // Final recount from the table (a change published without a wake-up is still counted).
        for (const t of this.tokens) {
          if (isReady(this.store.state(t))) this.ready.add(t);
          else this.ready.delete(t);
        }
        const notReady = this.tokens.filter((t) => !this.ready.has(t));
        const disable = this.options.disableNotReady !== false;
        if (disable && notReady.length > 0) this.store.setDisabled(notReady, true);
        const r: WarmupResult = {
          ready: this.ready.size,
          total,
          fraction: fraction(),
          timedOut: timedOut && fraction() < this.minReadyFraction,
          disabled: disable ? notReady : [],
          elapsedMs: now() - t0,
        };
        if (rest)
          r.rest = restResult ?? {
            requested: 0,
            received: 0,
            missing: [],
            failedRequests: 0,
            errors: [],
            error: 'not finished when warmup ended',
          };
        this.finished = r;
        report();
        resolve(r);
      };

      const check = () => {
        if (!done && fraction() >= this.minReadyFraction) finish(false);
      };

      const unwatch = this.hub.watch(this.tokens, (c) => {
        if (done) return;
        const before = this.ready.size;
        if (c.ready) this.ready.add(c.tokenId);
        else this.ready.delete(c.tokenId);
        if (this.ready.size !== before) {
          report();
          check();
        }
      });
      for (const t of this.tokens) if (isReady(this.store.state(t))) this.ready.add(t);
      report();
      check();
      if (done) return;
      timer = setTimeout(() => finish(true), this.timeoutMs);
      signal?.addEventListener('abort', abort, { once: true });

      if (rest) {
        const startRest = () => {
          if (done || !rest.open) return;
          const ids =
            this.options.restTokens === 'notReady' ? this.tokens.filter((t) => !this.ready.has(t)) : [...this.tokens];
          // Each REST book may make a token ready: the writer wakes the watch hub once it applied it.
          rest.fetchBooks(this.store, ids).then(
            (r) => {
              restResult = r;
            },
            (e: unknown) => {
              restResult = {
                requested: ids.length,
                received: 0,
                missing: [],
                failedRequests: 0,
                errors: [],
                error: e instanceof Error ? e.message : String(e),
              };
            },
          );
        };
        const after = this.options.restAfterMs ?? 0;
        if (after > 0) restTimer = setTimeout(startRest, after);
        else startRest();
      }
    });
  }
}
