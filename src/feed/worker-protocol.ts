/**
 * Messages between the main thread (worker.ts) and the feed worker (worker-entry.ts).
 * Main to worker: batches of operations, applied in order: writer commands (their type is derived
 * from the command table of src/table/writer.ts) and the feed's own operations. Worker to main:
 * replies and events.
 */
import type { BackendName } from '../backend/index.js';
import type { Command, FullBook } from '../table/writer.js';
import type { FeedStats, UniverseEntry } from './manager.js';
import type { ResolvedFeedOptions } from './options.js';
import type { LogLine } from './log.js';
import type { Trade } from './trades.js';
import type { ResolvedAudit } from '../audit/options.js';
import type { HttpOptions } from '../rest/http.js';

/**
 * Feed options that cross the thread boundary: all of them but the logger (a function, called on
 * the main thread) and its style (the worker hands its lines over as objects).
 */
export type WorkerFeedSettings = Omit<ResolvedFeedOptions, 'logger' | 'logStyle'>;

export interface WorkerInit {
  /** The table, or null for a book server's table: the worker then maps the file of `server` itself. */
  table: SharedArrayBuffer | null;
  /** The book server whose mapped table the worker writes (src/server/memory.ts). */
  server?: string;
  backend: BackendName;
  graceMs: number | undefined;
  feed: WorkerFeedSettings;
  /** Shared stats block (STATS_WORDS f64, see stats.ts), refreshed by the worker every health interval. */
  stats: SharedArrayBuffer;
  /** Forward log lines to the main thread. */
  log: boolean;
  /** Shared queue counters (Int32Array of QUEUE_WORDS, indexes Q_*), see {@link WORKER_QUEUE_LIMIT}. */
  queue: SharedArrayBuffer;
  /** The table's auditor, run next to the writer (it starts with a `startAudit` operation). */
  audit?: WorkerAudit;
}

/** What the feed worker needs to run the cache's auditor. */
export interface WorkerAudit {
  options: ResolvedAudit;
  /** CLOB REST base URL. */
  url: string;
  /** The options of its HTTP client that cross the thread boundary (no functions). */
  http: HttpOptions;
  /** Shared block (AUDIT_BLOCK_WORDS f64, src/audit/stats.ts), refreshed every health interval and before a stats reply. */
  block: SharedArrayBuffer;
}

/**
 * Most messages the worker lets wait unhandled on the main thread. Past it, log lines,
 * connected/disconnected events and trades are dropped (counted in `workerDropped`); newMarket
 * events and replies always go through. Operations to the worker are never dropped (each is a call of the
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

/** What the main thread can ask the worker, and the type of each answer. */
export interface Requests {
  stats: { ask: Record<string, never>; answer: FeedStats };
  stop: { ask: Record<string, never>; answer: undefined };
  fullBook: { ask: { tokenId: string }; answer: FullBook | null };
}
export type RequestKind = keyof Requests;

/** The feed's own operations (not writer commands). */
export type FeedOp =
  | { op: 'add'; entries: UniverseEntry[] }
  | { op: 'remove'; tokenIds: string[] }
  /** Someone on the main thread listens to trades (the worker then looks for them in frames), or no longer. */
  | { op: 'trades'; on: boolean }
  | { op: 'reconnect'; conn: number; reason: string }
  | { op: 'startAudit' }
  | { [K in RequestKind]: { op: 'request'; id: number; kind: K } & Requests[K]['ask'] }[RequestKind];

/** One operation from the main thread: a writer command, or a feed operation. */
export type MainOp = Command | FeedOp;

export interface MainMessage {
  ops: MainOp[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'event'; name: 'connected' | 'disconnected' | 'newMarket'; payload: unknown }
  /** The trades of one or more frames, in order. */
  | { type: 'trades'; trades: Trade[] }
  | ({ type: 'log' } & LogLine)
  | { type: 'reply'; id: number; value: unknown }
  | { type: 'failed'; id: number; message: string }
  | { type: 'opError'; message: string };
