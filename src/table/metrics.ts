/**
 * Metrics: read-side counters (hits, misses by reason, served-age histogram), kept by each
 * reading thread, and the writer counters from the table header.
 */
import { COUNTERS, C, COUNTER_COUNT, H_COUNTERS, type CounterName } from './layout.js';
import type { HistogramFamily, MetricFamily, ScalarFamily } from './metric-defs.js';

/** Why a read returned null. */
export const Miss = {
  notSubscribed: 0,
  neverSeen: 1,
  notReady: 2,
  stale: 3,
  crossed: 4,
  disabled: 5,
  settled: 6,
  mismatch: 7,
  diverged: 8,
  serverDown: 9,
} as const;
export type Miss = (typeof Miss)[keyof typeof Miss];
/** Why a read returned null, by name: the values of `missReason` and the keys of `misses`. */
export const MISS_NAMES = [
  'not_subscribed',
  'never_seen',
  'not_ready',
  'stale',
  'crossed',
  'disabled',
  'settled',
  'mismatch',
  'diverged',
  'server_down',
] as const;
/**
 * A miss reason: `not_subscribed`, `never_seen`, `not_ready`, `stale`, `crossed`, `disabled`,
 * `settled`, `mismatch`, `diverged`, or `server_down` (a reader attached to a book server whose
 * heartbeat is older than its bound: docs/SERVER.md).
 */
export type MissName = (typeof MISS_NAMES)[number];

/** Upper bounds (ms, inclusive) of the served-age histogram buckets; the last bucket is open. */
export const AGE_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

/**
 * Bucket index by ceil(age in ms): age <= le  <=>  ceil(age) <= le, since every bound is an
 * integer. BUCKET_OF[ceil(age)] for ceil(age) <= LAST_BOUND, else the open bucket.
 */
const LAST_BOUND = AGE_BUCKETS_MS[AGE_BUCKETS_MS.length - 1];
const OPEN_BUCKET = AGE_BUCKETS_MS.length;
const BUCKET_OF = new Uint8Array(LAST_BOUND + 1);
for (let ms = 0, i = 0; ms <= LAST_BOUND; ms++) {
  while (ms > AGE_BUCKETS_MS[i]) i++;
  BUCKET_OF[ms] = i;
}

/*
 * Layout of ReadCounters.v. There is no hit counter: every hit lands in exactly one histogram
 * bucket, so hits = the sum of the buckets (one read-modify-write less per hit).
 */
const AGE_SUM = 0;
const MISS0 = 1;
const HIST0 = MISS0 + MISS_NAMES.length;
const SIZE = HIST0 + AGE_BUCKETS_MS.length + 1;

/** Counters of one reading thread, in one typed array so the read path only does stores. */
export class ReadCounters {
  readonly v = new Float64Array(SIZE);

  /** Counts a served read of age `age` ms (>= 0). */
  hit(age: number): void {
    const v = this.v;
    v[AGE_SUM] += age;
    const c = Math.ceil(age);
    // `c <= LAST_BOUND` is false for NaN, and c >= 0 for every age >= 0 (the readers clamp).
    v[HIST0 + (c <= LAST_BOUND ? BUCKET_OF[c] : OPEN_BUCKET)]++;
  }

  miss(reason: Miss): null {
    this.v[MISS0 + reason]++;
    return null;
  }

  /** Counts the miss and returns the reason. */
  missReason(reason: Miss): Miss {
    this.v[MISS0 + reason]++;
    return reason;
  }

  /** Hits so far (the sum of the age histogram). */
  get hits(): number {
    const v = this.v;
    let n = 0;
    for (let i = HIST0; i < SIZE; i++) n += v[i];
    return n;
  }

  reset(): void {
    this.v.fill(0);
  }
}

/** A point-in-time copy of all counters. */
export interface MetricsSnapshot {
  /** Reads served. */
  hits: number;
  /** Reads not served, by reason. */
  misses: Record<MissName, number>;
  /** Served-age histogram: count per bucket, `le` in ms (Infinity for the last). */
  ageHistogram: {
    /** Upper bound of the bucket (inclusive), ms. */
    le: number;
    /** Reads served with an age in this bucket (not cumulative). */
    count: number;
  }[];
  /** Sum of served ages, ms. */
  ageSumMs: number;
  /** Writer counters (docs/DESIGN.md section 6). */
  writer: Record<CounterName, number>;
}

/** Metrics of a store, with a human summary. */
export class Metrics implements MetricsSnapshot {
  hits: number;
  misses: Record<MissName, number>;
  ageHistogram: MetricsSnapshot['ageHistogram'];
  ageSumMs: number;
  writer: Record<CounterName, number>;

  /** @internal */
  constructor(read: ReadCounters, table: ArrayBufferLike) {
    const v = read.v;
    this.hits = read.hits;
    this.ageSumMs = v[AGE_SUM];
    this.misses = Object.fromEntries(MISS_NAMES.map((n, i) => [n, v[MISS0 + i]])) as Record<MissName, number>;
    this.ageHistogram = [...AGE_BUCKETS_MS, Infinity].map((le, i) => ({ le, count: v[HIST0 + i] }));
    const w = new Float64Array(table, H_COUNTERS, COUNTER_COUNT);
    this.writer = Object.fromEntries(COUNTERS.map((n) => [n, w[C[n]]])) as Record<CounterName, number>;
  }

  /** Reads not served, all reasons. */
  get missCount(): number {
    let n = 0;
    for (const k of MISS_NAMES) n += this.misses[k];
    return n;
  }

  /** The figures people look at first. */
  summary(): MetricsSummary {
    const reads = this.hits + this.missCount;
    const w = this.writer;
    return {
      reads,
      hits: this.hits,
      misses: this.missCount,
      hitRate: reads === 0 ? 0 : this.hits / reads,
      meanAgeMs: this.hits === 0 ? 0 : this.ageSumMs / this.hits,
      missesByReason: { ...this.misses },
      snapshots: w.snapshotsApplied,
      snapshotsRejected: w.snapshotsRejected,
      deltas: w.deltasApplied,
      gaps: w.deltasWithoutBook,
      desyncs: w.desyncs,
      crossedResets: w.crossedResets,
      malformed: w.badJson + w.badEvent + w.badDecimal + w.unorderedLevels,
      frames: w.frames,
    };
  }
}

/** The headline figures of a store's metrics (`metrics().summary()`). */
export interface MetricsSummary {
  /** Reads through this thread. */
  reads: number;
  /** Reads served. */
  hits: number;
  /** Reads not served. */
  misses: number;
  /** hits / reads, 0 when nothing was read. */
  hitRate: number;
  /** Mean age of served books, ms. */
  meanAgeMs: number;
  /** Reads not served, by reason. */
  missesByReason: Record<MissName, number>;
  /** Book snapshots applied. */
  snapshots: number;
  /** Book snapshots rejected (crossed, malformed). */
  snapshotsRejected: number;
  /** Price changes applied. */
  deltas: number;
  /** Deltas for tokens without a book (not applied). */
  gaps: number;
  /** Books reset because they disagreed with the server's best bid/ask or hash past the grace period. */
  desyncs: number;
  /** Books reset because a change left them crossed. */
  crossedResets: number;
  /** Frames or events rejected as malformed. */
  malformed: number;
  /** Frames ingested. */
  frames: number;
}

/** What each writer counter counts (docs/DESIGN.md section 6 has their order in the header). */
export const WRITER_COUNTER_HELP: Readonly<Record<CounterName, string>> = {
  frames: 'Frames handed to the writer (data and control).',
  bytes: 'Bytes of the frames handed to the writer (UTF-8).',
  events: 'Events in JSON frames (each element of an array, or the single object).',
  controlFrames: 'Control frames (PONG, NO NEW ASSETS, ...) that reached the writer.',
  snapshotsApplied: 'Book snapshots (`book` events) applied.',
  snapshotsRejected: 'Book snapshots (WebSocket or REST) rejected as malformed.',
  deltasApplied: '`price_change` entries applied.',
  deltasWithoutBook: '`price_change` entries for a token without a ready book (not applied).',
  crossedResets: 'Books reset because they crossed (best bid at or above best ask).',
  bboMismatches: "Frames after which a book's top disagreed with the server's best bid/ask.",
  desyncs: "Books reset because their top still disagreed with the server's after the grace period.",
  hashChecks: "Book hashes compared with the server's.",
  hashMismatches: "Book hashes that differed from the server's.",
  badJson: 'Frames or REST bodies that were not valid UTF-8 JSON.',
  badEvent: 'Events rejected for their structure (missing or mistyped fields, unknown tokens list).',
  badDecimal: 'Events rejected for a price or size that is not a valid decimal.',
  unorderedLevels: 'Book events rejected because their levels were not in wire order.',
  unknownEvents: 'Events of an unknown `event_type` (ignored).',
  ignored: 'Events or entries for tokens that are not subscribed (ignored).',
  tickSizeChanges: '`tick_size_change` events applied.',
  lastTrades: '`last_trade_price` events applied.',
  bestBidAsk: '`best_bid_ask` events received (custom feature).',
  newMarkets: '`new_market` events received (custom feature).',
  settled: 'Tokens marked settled (`market_resolved`, or a connection closed as resolved).',
  invalidations: 'Books invalidated (disconnects, unparseable frames, internal errors).',
  restApplied: 'REST books applied during warmup.',
  restSkipped: 'REST books skipped (token not in the table, or a newer WebSocket book already there).',
  mismatchesResolved: "Top-of-book mismatches that agreed with the server's again within the grace period.",
};

/** `snapshotsApplied` -> `snapshots_applied`. */
function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Served-age bucket bounds in seconds, for the exporters. */
const AGE_BOUNDS_S = AGE_BUCKETS_MS.map((ms) => ms / 1000);

/**
 * The metrics of a store (read counters of this thread and the writer counters of the table), in
 * the order they are exported.
 */
export const STORE_FAMILIES: readonly MetricFamily<MetricsSnapshot>[] = [
  {
    name: 'polybook_reads_total',
    kind: 'counter',
    unit: null,
    help: 'Book reads through this thread, by result (hit or miss reason).',
    labels: { result: ['hit', ...MISS_NAMES] },
    read: (m) => [
      { labels: { result: 'hit' }, value: m.hits },
      ...MISS_NAMES.map((r) => ({ labels: { result: r }, value: m.misses[r] })),
    ],
  } satisfies ScalarFamily<MetricsSnapshot>,
  {
    name: 'polybook_served_age_seconds',
    kind: 'histogram',
    unit: 'seconds',
    help: 'Age of served books (time since the feed last confirmed them current).',
    labels: {},
    bounds: AGE_BOUNDS_S,
    read: (m) => {
      let cumulative = 0;
      const buckets = m.ageHistogram.map((b, i) => {
        cumulative += b.count;
        return { le: i < AGE_BOUNDS_S.length ? AGE_BOUNDS_S[i] : Infinity, count: cumulative };
      });
      return [{ labels: {}, buckets, sum: m.ageSumMs / 1000, count: cumulative }];
    },
  } satisfies HistogramFamily<MetricsSnapshot>,
  ...COUNTERS.map(
    (c): ScalarFamily<MetricsSnapshot> => ({
      name: `polybook_writer_${snakeCase(c)}_total`,
      kind: 'counter',
      unit: c === 'bytes' ? 'bytes' : null,
      help: WRITER_COUNTER_HELP[c],
      labels: {},
      read: (m) => [{ labels: {}, value: m.writer[c] }],
    }),
  ),
];
