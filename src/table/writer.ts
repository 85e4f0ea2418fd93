/**
 * The writer side of the book table: the one interface both backends implement
 * (native/src/lib.rs through src/backend/native/index.ts, and src/backend/ts/writer.ts). Semantics: docs/DESIGN.md section 5.
 * All times are ms of the host's monotonic clock (`preciseNow`), passed in by the caller.
 */
export interface Writer {
  /** Binds `tokenId` to `slot` (SUBSCRIBED, empty book, generation + 1). */
  bind(tokenId: string, slot: number, conn: number): void;
  /** Clears the slot and forgets its token (generation + 1). */
  unbind(slot: number): void;
  /** Sets the connection index (1..255) whose PONGs confirm this token. */
  assign(slot: number, conn: number): void;
  /** Records that everything sent on `conn` before `sentAtMs` has arrived. */
  confirm(conn: number, sentAtMs: number): void;
  /** Applies one raw market-channel frame. Never throws. Returns the number of tokens awaiting resync. */
  ingest(frame: string | Uint8Array, nowMs: number): number;
  /** Resets the token (not ready until a fresh book), e.g. after a disconnect. */
  invalidate(slot: number, nowMs: number): void;
  /** Sets or clears DISABLED. */
  setDisabled(slot: number, disabled: boolean): void;
  /** Enables hash verification for the token. */
  setMeta(slot: number, minOrderSize: string, negRisk: boolean): void;
  /** Expires grace periods and runs pending hash checks. Returns the number of tokens awaiting resync. */
  tick(nowMs: number): number;
  /** Token ids marked for resync since the last call, in marking order. */
  takeResync(): string[];
  /** Applies one REST `/book` summary (JSON text) unless the table holds a newer book. */
  restBook(json: string, nowMs: number): void;
  /** Full-depth book with the exact texts, wire order (worst first), or null if the slot has no book. */
  fullBook(slot: number): { bids: [string, string][]; asks: [string, string][] } | null;
}
