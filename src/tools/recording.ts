/**
 * Recordings: every writer command a store applied that changes books or counters (the commands
 * marked `recorded` in src/table/writer.ts: subscriptions, raw frames with their receive time,
 * invalidations, REST books, ticks...), as gzip-compressed JSON lines. Replaying one applies the
 * same commands to a fresh store at the same slots, so it is deterministic and ends with the same
 * books and counters on both backends.
 */
import { createGzip, gunzipSync } from 'node:zlib';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { COMMANDS, isCommandName, type Command } from '../table/writer.js';
import { BookStore } from '../table/store.js';
import { SlotAllocator } from '../table/slots.js';
import type { BackendName } from '../backend/index.js';
import { PolybookError } from '../errors.js';

export const RECORDING_FORMAT = 'polybook-recording';
export const RECORDING_VERSION = 2;

/**
 * One line of a recording after the header: a writer command. A frame given as bytes is kept as
 * text when it is valid UTF-8 (both writers treat the two alike), else as `{ b: base64 }`.
 */
export interface RecordedOp {
  /** The writer command (src/table/writer.ts `COMMANDS`). */
  op: string;
  /** Its arguments, with frames encoded. */
  args: unknown[];
}

/** A recording could not be read or replayed (`POLYBOOK_RECORDING`): the message says which file and why. */
export class RecordingError extends PolybookError {
  /** @param message which file and what is wrong with it. */
  constructor(message: string) {
    super('POLYBOOK_RECORDING', message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A frame argument as JSON. */
function encodeFrame(frame: string | Uint8Array): string | { b: string } {
  if (typeof frame === 'string') return frame;
  try {
    return utf8.decode(frame);
  } catch {
    return { b: Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64') };
  }
}

function decodeFrame(v: unknown): string | Uint8Array {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { b?: unknown }).b === 'string') {
    return Buffer.from((v as { b: string }).b, 'base64');
  }
  throw new TypeError('a frame is a string or { b: base64 }');
}

/**
 * Writes a recording while a store runs: pass {@link Recorder.observe} as the store's `observe`
 * option (`new BookStore({ observe: recorder.observe })`).
 */
export class Recorder {
  private readonly gzip = createGzip();
  private readonly out: WriteStream;
  private closed = false;
  /** Frames recorded so far. */
  frames = 0;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    this.gzip.pipe(this.out);
    this.line({ format: RECORDING_FORMAT, version: RECORDING_VERSION, started: new Date().toISOString() });
  }

  private line(v: unknown): void {
    if (!this.closed) this.gzip.write(`${JSON.stringify(v)}\n`);
  }

  /** Records one applied command (the ones a replay needs). */
  readonly observe = (c: Command): void => {
    if (this.closed || !COMMANDS[c.op].recorded) return;
    if (c.op === 'ingest') {
      this.frames++;
      this.line({ op: c.op, args: [encodeFrame(c.args[0]), c.args[1]] });
    } else {
      this.line({ op: c.op, args: c.args });
    }
  };

  /** Stops recording (later commands are not recorded), flushes and closes the file. */
  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve, reject) => {
      this.out.once('finish', resolve);
      this.out.once('error', reject);
      this.gzip.end();
    });
  }
}

/** Version 1 lines named tokens instead of slots: they get slots here, allocated as a store did. */
function fromVersion1(lines: unknown[]): RecordedOp[] {
  const slots = new SlotAllocator(1 << 20);
  const out: RecordedOp[] = [];
  for (const l of lines as { op: string; id?: string; t?: number; f?: string; b?: string }[]) {
    switch (l.op) {
      case 'bind':
        if (slots.map.has(l.id!)) continue;
        out.push({ op: 'bind', args: [l.id, slots.acquire(l.id!), 0] });
        break;
      case 'unbind': {
        const slot = slots.release(l.id!);
        if (slot >= 0) out.push({ op: 'unbind', args: [slot] });
        break;
      }
      case 'frame':
        out.push({ op: 'ingest', args: [l.b !== undefined ? { b: l.b } : (l.f ?? ''), l.t] });
        break;
      case 'invalidate': {
        const slot = slots.map.get(l.id!);
        if (slot !== undefined) out.push({ op: 'invalidate', args: [slot, l.t] });
        break;
      }
      case 'tick':
        out.push({ op: 'tick', args: [l.t] });
        break;
      default:
        out.push({ op: l.op, args: [] });
    }
  }
  return out;
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
  if (header.version !== RECORDING_VERSION && header.version !== 1) {
    throw new RecordingError(
      `${path} is recording version ${header.version}; this polybook reads versions 1 and ${RECORDING_VERSION}`,
    );
  }
  const ops: unknown[] = [];
  for (let i = 1; i < lines.length; i++) {
    try {
      ops.push(JSON.parse(lines[i]));
    } catch {
      throw new RecordingError(`${path}: line ${i + 1} is not valid JSON (truncated recording?)`);
    }
  }
  return header.version === 1 ? fromVersion1(ops) : (ops as RecordedOp[]);
}

/** A recorded line as a command, checked. @throws RecordingError */
function commandOf(o: RecordedOp, line: number): Command {
  if (!isCommandName(o?.op) || !Array.isArray(o.args)) {
    throw new RecordingError(`unknown recording operation ${JSON.stringify(o?.op)} (operation ${line})`);
  }
  if (o.op !== 'ingest') return o as Command;
  try {
    return { op: 'ingest', args: [decodeFrame(o.args[0]), o.args[1] as number] };
  } catch (e) {
    throw new RecordingError(`operation ${line}: ${(e as Error).message}`);
  }
}

/** The state a replay ends in: books (top of book and depth) and writer counters. */
export interface ReplayResult {
  /** The writer backend the recording was replayed on. */
  backend: BackendName;
  /** Market-channel frames replayed (`ingest` commands). */
  frames: number;
  /** The end state of every token of the table, by token id (sorted). */
  books: Record<
    string,
    {
      /** The book is ready (see `TokenState.ready`). */
      ready: boolean;
      /** Best bid price, whatever the book's age; null when the book is not served (not ready, crossed, disabled...) or has no bid. */
      bestBid: number | null;
      /** Best ask price, whatever the book's age; null when the book is not served or has no ask. */
      bestAsk: number | null;
      /** Bid levels of the full-depth book (0 when none is held). */
      bids: number;
      /** Ask levels of the full-depth book (0 when none is held). */
      asks: number;
      /** The store's sequence of the book: +1 per applied frame that changed it. */
      sequence: number;
    } | null
  >;
  /** The writer counters at the end, by name (see {@link COUNTERS}). */
  counters: Record<string, number>;
}

/** The time a command was made at, if it carries one. */
function timeOf(c: Command): number | undefined {
  const kinds = COMMANDS[c.op].args as readonly string[];
  const i = kinds.indexOf('time');
  return i < 0 ? undefined : (c.args[i] as number);
}

/**
 * Replays a recording through a fresh store. `pace(dtMs)` is awaited between frames (for
 * `--speed`); omit it to replay as fast as possible.
 */
export async function replay(
  ops: RecordedOp[],
  options: { backend?: BackendName; maxDepth?: number; pace?: (dtMs: number) => Promise<void> } = {},
): Promise<ReplayResult> {
  const commands = ops.map((o, i) => commandOf(o, i + 1));
  let capacity = 1;
  for (const c of commands) if (c.op === 'bind') capacity = Math.max(capacity, c.args[1] + 1);
  let now = 0;
  const store = new BookStore({ backend: options.backend, maxDepth: options.maxDepth, clock: () => now, capacity });
  let last: number | undefined;
  let frames = 0;
  for (const c of commands) {
    const t = timeOf(c);
    if (t !== undefined) {
      if (c.op === 'ingest' && options.pace && last !== undefined && t > last) await options.pace(t - last);
      if (c.op === 'ingest') last = t;
      now = t;
    }
    if (c.op === 'ingest') frames++;
    try {
      store.apply([c]);
    } catch (e) {
      throw new RecordingError(`cannot replay ${c.op}: ${(e as Error).message}`);
    }
  }
  const books: ReplayResult['books'] = {};
  for (const id of store.tokens().sort()) {
    const st = store.state(id)!;
    const full = store.fullBook(id);
    const b = store.get(id, Number.POSITIVE_INFINITY);
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
