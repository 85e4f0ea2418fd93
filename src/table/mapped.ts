/**
 * Tables in a mapped shared-memory file (a book server's, docs/SERVER.md): their memory is an
 * ArrayBuffer over the mapping, not a SharedArrayBuffer, so `Atomics.wait`/`notify` and a worker's
 * `workerData` cannot carry them. What the table layer needs for those tables instead (waking and
 * waiting across processes, the coarse clock's ticker) is registered here per buffer by
 * src/server/memory.ts; the table layer looks it up and never depends on the server layer.
 */

/** What the table layer does differently with a table in a mapped file. */
export interface MappedTable {
  /** Wakes the threads of every process that wait for the change epoch (after the epoch moved). */
  wake(): void;
  /**
   * Calls `onChange` on this thread whenever the change epoch moved (coalesced while a call is
   * pending), through a native waiter that counts in the header's `watchers` word while it runs.
   * Returns the function that stops it.
   */
  watch(onChange: () => void): () => void;
  /**
   * Starts this process's share of the table's coarse clock: the server's ticker thread (which is
   * also its heartbeat); nothing in a reader, whose clock is the server's. Returns the release.
   */
  startTicker(): () => void;
}

const registry = new WeakMap<ArrayBufferLike, MappedTable>();

/** Registers the hooks of a mapped table's buffer. */
export function registerMapped(memory: ArrayBufferLike, table: MappedTable): void {
  registry.set(memory, table);
}

/** The hooks of a mapped table, or undefined for a table in a SharedArrayBuffer. */
export function mappedTable(memory: ArrayBufferLike): MappedTable | undefined {
  return registry.get(memory);
}
