/**
 * Entry to the native (Rust, N-API) writer: loading the binding and adapting it to `Writer`.
 *
 * The binding is loaded through the napi-rs generated loader `native/binding.cjs` (which picks the
 * `.node` file of this platform). This module never throws at import: `loadNativeBinding()`
 * reports a missing or broken binary as `{ error }`, and the caller falls back to the TypeScript
 * writer. Paths resolve from `src/` and `dist/` alike (both at the same depth below the package root).
 *
 * The adapter is derived from the command table (src/table/writer.ts): one method per command,
 * checking its arguments by kind as the TypeScript writer does, then calling the native method of
 * the same name (native/src/commands.rs, generated from the same table).
 */
import { createRequire } from 'node:module';
import { MAX_CONNECTIONS, tableGeometry } from '../../table/layout.js';
import { type ArgKind, COMMAND_NAMES, COMMANDS, type Writer } from '../../table/writer.js';
import { ConfigError, invalidArgument } from '../../errors.js';

/** The JS surface of `native/src/lib.rs`: the commands (bytes frames: `ingest`; text: `ingestString`). */
export type NativeWriterInstance = Omit<Writer, 'ingest'> & {
  /** Bytes (Buffer / Uint8Array), read in place: the hot path. */
  ingest(frame: Uint8Array, nowMs: number): number;
  ingestString(frame: string, nowMs: number): number;
  /** Writer counter by header index. */
  counter(index: number): number;
};

/** A book server's table in a shared-memory file (native/src/shm.rs; src/server/memory.ts uses it). */
export interface NativeSharedTable {
  publish(): void;
  /** The mapping as an ArrayBuffer: once per table. */
  buffer(): unknown;
  wake(): number;
  startTicker(periodMs: number, waiterOffset: number): void;
  stopTicker(): void;
  startWatchdog(boundMs: number, periodMs: number): void;
  superseded(): boolean;
  watch(waiterOffset: number, callback: () => void): { stop(): void };
  unlink(): boolean;
  close(): void;
  readonly path: string;
  readonly bytes: number;
}

export interface NativeBinding {
  NativeWriter: new (table: Uint8Array, graceMs?: number | null) => NativeWriterInstance;
  SharedTable: { create(path: string, bytes: number): NativeSharedTable; open(path: string): NativeSharedTable };
}

/** Loads the native binding; never throws. */
export function loadNativeBinding(): { binding: NativeBinding } | { error: Error } {
  try {
    const require = createRequire(import.meta.url);
    const binding = require('../../../native/binding.cjs') as NativeBinding;
    if (typeof binding?.NativeWriter !== 'function') {
      return { error: new Error('polybook: native/binding.cjs loaded but exports no NativeWriter') };
    }
    return { binding };
  } catch (e) {
    return { error: e instanceof Error ? e : new Error(String(e)) };
  }
}

/** A native writer: the `Writer`, and the binding's instance behind it (tests reach its hooks). */
export type NativeWriter = Writer & { readonly native: NativeWriterInstance };

/** Argument checks by kind: the same errors as the TypeScript writer, values as Rust takes them. */
function checks(capacity: number): Record<ArgKind, (v: never) => unknown> {
  return {
    slot: (s: number) => {
      if (!Number.isInteger(s) || s < 0 || s >= capacity) {
        throw invalidArgument('range', `polybook: slot ${s} is out of range 0..${capacity - 1}`);
      }
      return s;
    },
    conn: (c: number) => {
      if (!Number.isInteger(c) || c < 0 || c >= MAX_CONNECTIONS) {
        throw invalidArgument('range', `polybook: connection index ${c} is out of range 0..${MAX_CONNECTIONS - 1}`);
      }
      return c;
    },
    token: (t: string) => String(t),
    text: (t: string) => String(t),
    flag: (f: boolean) => f === true,
    time: (t: number) => t,
    frame: (f: string | Uint8Array) => f,
  };
}

/** Creates the native writer of a table. @throws ConfigError on a bad `graceMs`. */
export function createNativeWriter(
  binding: NativeBinding,
  sab: ArrayBufferLike,
  opts: { graceMs?: number } = {},
): NativeWriter {
  const g = opts.graceMs ?? 1000;
  if (typeof g !== 'number' || !(g >= 0)) throw new ConfigError('graceMs', g, 'a number of ms >= 0');
  const capacity = tableGeometry(sab).capacity;
  // The native side holds a reference to its view, which keeps the table alive.
  const native = new binding.NativeWriter(new Uint8Array(sab), g);
  const check = checks(capacity);
  const w = { native } as Record<string, unknown>;
  for (const op of COMMAND_NAMES) {
    const f = (native as unknown as Record<string, (...a: unknown[]) => unknown>)[op].bind(native);
    const kinds = COMMANDS[op].args.map((k) => check[k] as (v: unknown) => unknown);
    w[op] =
      kinds.length === 0
        ? f
        : (...args: unknown[]) => {
            for (let i = 0; i < kinds.length; i++) args[i] = kinds[i](args[i]);
            return f(...args);
          };
  }
  // The hot path: no argument copying; text and bytes go to their own native entries.
  w.ingest = (frame: string | Uint8Array, nowMs: number) =>
    typeof frame === 'string' ? native.ingestString(frame, nowMs) : native.ingest(frame, nowMs);
  return w as unknown as NativeWriter;
}
