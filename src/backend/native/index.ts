/**
 * Entry to the native (Rust, N-API) writer: loading the binding and adapting it to `Writer`.
 *
 * The binding is loaded through the napi-rs generated loader `native/binding.cjs` (which picks the
 * `.node` file of this platform). This module never throws at import: `loadNativeBinding()`
 * reports a missing or broken binary as `{ error }`, and the caller falls back to the TypeScript
 * writer. Paths resolve from `src/` and `dist/` alike (both one level below the package root).
 */
import { createRequire } from 'node:module';
import { MAX_CONNECTIONS, tableGeometry } from '../../table/layout.js';
import type { Writer } from '../../table/writer.js';
import { ConfigError, invalidArgument } from '../../errors.js';

/** The JS surface of `native/src/lib.rs` (see the generated `native/binding.d.ts`). */
export interface NativeWriterInstance {
  bind(tokenId: string, slot: number, conn?: number | null): void;
  unbind(slot: number): void;
  assign(slot: number, conn: number): void;
  confirm(conn: number, sentAtMs: number): void;
  /** Bytes (Buffer / Uint8Array), read in place: the hot path. */
  ingest(frame: Uint8Array, nowMs: number): number;
  ingestString(frame: string, nowMs: number): number;
  invalidate(slot: number, nowMs: number): void;
  setDisabled(slot: number, disabled: boolean): void;
  setMeta(slot: number, minOrderSize: string, negRisk: boolean): void;
  tick(nowMs: number): number;
  takeResync(): string[];
  restBook(json: string, nowMs: number): void;
  fullBook(slot: number): { bids: string[][]; asks: string[][] } | null;
  counter(index: number): number;
}

export interface NativeBinding {
  NativeWriter: new (table: Uint8Array, graceMs?: number | null) => NativeWriterInstance;
  layoutInfo(): { constants: Record<string, number>; counters: string[] };
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

/** `Writer` over the native writer. Argument checks mirror the TypeScript writer's RangeErrors. */
export class NativeWriterAdapter implements Writer {
  readonly native: NativeWriterInstance;
  private readonly capacity: number;
  /** The table stays referenced here too (the native side also holds a reference to its view). */
  readonly sab: SharedArrayBuffer;

  constructor(binding: NativeBinding, sab: SharedArrayBuffer, opts: { graceMs?: number } = {}) {
    const g = opts.graceMs ?? 1000;
    if (typeof g !== 'number' || !(g >= 0)) throw new ConfigError('graceMs', g, 'a number of ms >= 0');
    this.capacity = tableGeometry(sab).capacity;
    this.sab = sab;
    this.native = new binding.NativeWriter(new Uint8Array(sab), g);
  }

  private slot(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) {
      throw invalidArgument('range', `polybook: slot ${slot} is out of range 0..${this.capacity - 1}`);
    }
    return slot;
  }

  private static conn(conn: number): number {
    if (!Number.isInteger(conn) || conn < 0 || conn >= MAX_CONNECTIONS) {
      throw invalidArgument('range', `polybook: connection index ${conn} is out of range 0..${MAX_CONNECTIONS - 1}`);
    }
    return conn;
  }

  bind(tokenId: string, slot: number, conn = 0): void {
    NativeWriterAdapter.conn(conn);
    this.native.bind(String(tokenId), this.slot(slot), conn);
  }

  unbind(slot: number): void {
    this.native.unbind(this.slot(slot));
  }

  assign(slot: number, conn: number): void {
    NativeWriterAdapter.conn(conn);
    this.native.assign(this.slot(slot), conn);
  }

  confirm(conn: number, sentAtMs: number): void {
    this.native.confirm(NativeWriterAdapter.conn(conn), sentAtMs);
  }

  ingest(frame: string | Uint8Array, nowMs: number): number {
    return typeof frame === 'string' ? this.native.ingestString(frame, nowMs) : this.native.ingest(frame, nowMs);
  }

  invalidate(slot: number, nowMs: number): void {
    this.native.invalidate(this.slot(slot), nowMs);
  }

  setDisabled(slot: number, disabled: boolean): void {
    this.native.setDisabled(this.slot(slot), disabled === true);
  }

  setMeta(slot: number, minOrderSize: string, negRisk: boolean): void {
    this.native.setMeta(this.slot(slot), String(minOrderSize), negRisk === true);
  }

  tick(nowMs: number): number {
    return this.native.tick(nowMs);
  }

  takeResync(): string[] {
    return this.native.takeResync();
  }

  restBook(json: string, nowMs: number): void {
    this.native.restBook(String(json), nowMs);
  }

  fullBook(slot: number): { bids: [string, string][]; asks: [string, string][] } | null {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.capacity) return null;
    return this.native.fullBook(slot) as { bids: [string, string][]; asks: [string, string][] } | null;
  }
}
