/**
 * Messages between the main thread (worker.ts) and the feed worker (worker-entry.ts).
 * Main to worker: batches of operations, applied in order. Worker to main: replies and events.
 */
import type { BackendName } from '../backend/index.js';
import type { FeedStats, UniverseEntry } from './manager.js';
import type { FeedOptions } from './options.js';
import type { LogLine } from './log.js';

/** Feed options that cross the thread boundary: all but the logger (a function) and its style (the logger runs on the main thread). */
export type WorkerFeedSettings = Omit<FeedOptions, 'logger' | 'logStyle'>;

export interface WorkerInit {
  table: SharedArrayBuffer;
  backend: BackendName;
  graceMs: number | undefined;
  feed: WorkerFeedSettings;
  /** Shared stats block (STATS_WORDS f64, see stats.ts), refreshed by the worker every health interval. */
  stats: SharedArrayBuffer;
  /** Forward log lines to the main thread. */
  log: boolean;
  /** Shared queue counters (Int32Array of QUEUE_WORDS, indexes Q_*), see {@link WORKER_QUEUE_LIMIT}. */
  queue: SharedArrayBuffer;
}

/**
 * Most messages the worker lets wait unhandled on the main thread. Past it, log lines and
 * connected/disconnected events are dropped (counted in `workerDropped`); newMarket events and
 * replies always go through. Operations to the worker are never dropped (each is a call of the
 * application or the cache, applied in order); `workerOpsQueued` shows how many wait.
 */
export const WORKER_QUEUE_LIMIT = 10_000;
/** Int32 words of the shared queue counters. */
export const QUEUE_WORDS = 4;
/** Messages the worker posted to the main thread. */
export const Q_POSTED = 0;
/** Messages the main thread handled. */
export const Q_HANDLED = 1;
/** Operations the main thread posted to the worker. */
export const Q_OPS_POSTED = 2;
/** Operations the worker applied. */
export const Q_OPS_APPLIED = 3;

export type MainOp =
  | { op: 'bind'; tokenId: string; slot: number; conn: number }
  | { op: 'unbind'; slot: number }
  | { op: 'assign'; slot: number; conn: number }
  | { op: 'confirm'; conn: number; sentAt: number }
  | { op: 'ingest'; frame: string | Uint8Array; now: number }
  | { op: 'invalidate'; slot: number; now: number }
  | { op: 'disable'; slot: number; disabled: boolean }
  | { op: 'setMeta'; slot: number; minOrderSize: string; negRisk: boolean }
  | { op: 'restBook'; json: string; now: number }
  | { op: 'add'; entries: UniverseEntry[] }
  | { op: 'remove'; tokenIds: string[] }
  | { op: 'stats'; id: number }
  | { op: 'stop'; id: number };

export interface MainMessage {
  ops: MainOp[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'event'; name: 'connected' | 'disconnected' | 'newMarket'; payload: unknown }
  | ({ type: 'log' } & LogLine)
  | { type: 'stats'; id: number; stats: FeedStats }
  | { type: 'stopped'; id: number }
  | { type: 'opError'; message: string };
