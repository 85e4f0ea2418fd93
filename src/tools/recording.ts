/**
 * Recordings: every raw frame a store ingested, with its receive time, and the feed's calls that
 * change books (subscriptions, invalidations on disconnect), as gzip-compressed JSON lines.
 * Replaying one through a fresh store goes through the same ingest path and is deterministic.
 */
import { createGzip, gunzipSync } from 'node:zlib';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import type { Writer } from '../table/writer.js';
import { BookStore, type BookStoreOptions } from '../table/store.js';
import type { BackendName } from '../backend/index.js';
import { PolybookError } from '../errors.js';

export const RECORDING_FORMAT = 'polybook-recording';
export const RECORDING_VERSION = 1;

/**
 * One line of a recording after the header: `op` says what the store was asked to do, `t` is the
 * local receive (or call) time in ms of the host's monotonic clock, `id` the token.
 */
export type RecordedOp =
  | {
      /** A raw frame ingested: its text in `f`, or its bytes in base64 in `b` when not UTF-8. */
      op: 'frame';
      /** Receive time, ms. */
      t: number;
      /** The frame's text. */
      f?: string;
      /** The frame's bytes, base64. */
      b?: string;
    }
  | {
      /** The token was added to the table. */
      op: 'bind';
      /** The token. */
      id: string;
    }
  | {
      /** The token was removed from the table. */
      op: 'unbind';
      /** The token. */
      id: string;
    }
  | {
      /** The token's book was invalidated (its connection dropped). */
      op: 'invalidate';
      /** Call time, ms. */
      t: number;
      /** The token. */
      id: string;
    }
  | {
      /** The periodic check (grace expiry, pending hash checks) ran. */
      op: 'tick';
      /** Call time, ms. */
      t: number;
    };

/** A recording could not be read: the message says which file and why. */
export class RecordingError extends PolybookError {
  /** @param message which file and what is wrong with it. */
  constructor(message: string) {
    super('POLYBOOK_RECORDING', message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Writes a recording while a store runs (wrap the store's writer with {@link Recorder.wrap}). */
export class Recorder {
  private readonly gzip = createGzip();
  private readonly out: WriteStream;
  private readonly ids = new Map<number, string>();
  frames = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    this.gzip.pipe(this.out);
    this.line({ format: RECORDING_FORMAT, version: RECORDING_VERSION, started: new Date().toISOString() });
  }

  private closed = false;

  private line(v: unknown): void {
    if (!this.closed) this.gzip.write(`${JSON.stringify(v)}\n`);
  }

  /** A writer that records every call that changes books, then forwards it. */
  wrap(inner: Writer): Writer {
    const rec = this;
    return {
      bind(id, slot, conn) {
        rec.ids.set(slot, id);
        rec.line({ op: 'bind', id });
        inner.bind(id, slot, conn);
      },
      unbind(slot) {
        const id = rec.ids.get(slot);
        if (id !== undefined) rec.line({ op: 'unbind', id });
        rec.ids.delete(slot);
        inner.unbind(slot);
      },
      ingest(frame, t) {
        if (rec.closed) return inner.ingest(frame, t);
        rec.frames++;
        if (typeof frame === 'string') rec.line({ op: 'frame', t, f: frame });
        else {
          try {
            rec.line({ op: 'frame', t, f: utf8.decode(frame) });
          } catch {
            rec.line({
              op: 'frame',
              t,
              b: Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64'),
            });
          }
        }
        return inner.ingest(frame, t);
      },
      invalidate(slot, t) {
        const id = rec.ids.get(slot);
        if (id !== undefined) rec.line({ op: 'invalidate', t, id });
        inner.invalidate(slot, t);
      },
      tick(t) {
        rec.line({ op: 'tick', t });
        return inner.tick(t);
      },
      assign: (slot, conn) => inner.assign(slot, conn),
      confirm: (conn, at) => inner.confirm(conn, at),
      setDisabled: (slot, d) => inner.setDisabled(slot, d),
      setMeta: (slot, m, n) => inner.setMeta(slot, m, n),
      takeResync: () => inner.takeResync(),
      restBook: (json, t) => inner.restBook(json, t),
      fullBook: (slot) => inner.fullBook(slot),
    };
  }

  /** Stops recording (later calls pass straight through), flushes and closes the file. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve, reject) => {
      this.out.once('finish', resolve);
      this.out.once('error', reject);
      this.gzip.end();
    });
  }
}

/** Reads a whole recording. @throws RecordingError when it is missing, not gzip, or not a recording. */
export function readRecording(path: string): RecordedOp[] {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new RecordingError(
      `cannot read recording ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  let text: string;
  try {
    text = gunzipSync(raw).toString('utf8');
  } catch {
    throw new RecordingError(`${path} is not a polybook recording (not gzip-compressed)`);
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  let header: { format?: unknown; version?: unknown } | undefined;
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    header = undefined;
  }
  if (header?.format !== RECORDING_FORMAT) throw new RecordingError(`${path} is not a polybook recording (no header)`);
  if (header.version !== RECORDING_VERSION) {
    throw new RecordingError(
      `${path} is recording version ${header.version}; this polybook reads version ${RECORDING_VERSION}`,
    );
  }
  const ops: RecordedOp[] = [];
  for (let i = 1; i < lines.length; i++) {
    try {
      ops.push(JSON.parse(lines[i]) as RecordedOp);
    } catch {
      throw new RecordingError(`${path}: line ${i + 1} is not valid JSON (truncated recording?)`);
    }
  }
  return ops;
}

/** The state a replay ends in: books (top of book and depth) and writer counters. */
export interface ReplayResult {
  /** The backend that replayed it. */
  backend: BackendName;
  /** Frames replayed. */
  frames: number;
  /** Every token's book at the end, by token id. */
  books: Record<
    string,
    {
      /** Whether the book could be served. */
      ready: boolean;
      /** Best bid price, or null. */
      bestBid: number | null;
      /** Best ask price, or null. */
      bestAsk: number | null;
      /** Bid levels held (full depth). */
      bids: number;
      /** Ask levels held (full depth). */
      asks: number;
      /** The store's sequence of the book. */
      sequence: number;
    } | null
  >;
  /** The writer counters at the end (docs/DESIGN.md section 6). */
  counters: Record<string, number>;
}

/**
 * Replays a recording through a fresh store. `pace(dtMs)` is awaited between frames (for
 * `--speed`); omit it to replay as fast as possible.
 */
export async function replay(
  ops: RecordedOp[],
  options: { backend?: BackendName; maxDepth?: number; pace?: (dtMs: number) => Promise<void> } = {},
): Promise<ReplayResult> {
  let now = 0;
  const storeOptions: BookStoreOptions = {
    backend: options.backend,
    maxDepth: options.maxDepth,
    clock: () => now,
    capacity: 1 << 16,
  };
  const store = new BookStore(storeOptions);
  let last: number | undefined;
  let frames = 0;
  for (const op of ops) {
    switch (op.op) {
      case 'bind':
        store.subscribe([op.id]);
        break;
      case 'unbind':
        store.unsubscribe([op.id]);
        break;
      case 'frame': {
        if (options.pace && last !== undefined && op.t > last) await options.pace(op.t - last);
        last = op.t;
        now = op.t;
        frames++;
        store.ingest(op.b !== undefined ? Buffer.from(op.b, 'base64') : (op.f ?? ''), op.t);
        break;
      }
      case 'invalidate':
        now = op.t;
        store.invalidate([op.id], op.t);
        break;
      case 'tick':
        now = op.t;
        store.tick(op.t);
        break;
      default:
        throw new RecordingError(`unknown recording operation ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }
  const books: ReplayResult['books'] = {};
  for (const id of store.tokens().sort()) {
    const st = store.state(id)!;
    const full = store.fullBook(id);
    const b = store.get(id, Infinity);
    books[id] = {
      ready: st.ready,
      bestBid: b?.bestBid ?? null,
      bestAsk: b?.bestAsk ?? null,
      bids: full?.bids.length ?? 0,
      asks: full?.asks.length ?? 0,
      sequence: st.sequence,
    };
  }
  const counters = { ...store.metrics().writer };
  store.close();
  return { backend: store.backend, frames, books, counters };
}
