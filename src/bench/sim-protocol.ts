/** Shared between the simulator worker (sim-worker.ts) and the threads that drive it. */

export interface SimWorkerData {
  markets: number;
  seed: number;
  /**
   * Layout: Int32 ctl[0..3] (ctl[CTL_SENT] = changes sent so far, ctl[CTL_DONE] = run finished),
   * Float64 sent[0..changes+1] from byte SENT_OFFSET, then Int32 market[0..changes+1] (index in
   * the groups of the market change k touched, -1 if it changed nothing a read returns at `depth`).
   * Size: {@link simBufferBytes}.
   */
  sab: SharedArrayBuffer;
  /** Exchange timestamp base: change k is stamped base + k. */
  base: number;
  /** Published depth of the readers' tables (a change below it is not visible). */
  depth: number;
  /** Background change rate of the simulator's own pump, per second. Default 0. */
  idleRate?: number;
  /** Simulator snapshot delay, ms (default the simulator's). */
  snapshotDelayMs?: number;
}

export const CTL_SENT = 0;
export const CTL_DONE = 1;
export const SENT_OFFSET = 16;

/** Bytes of the shared buffer for `changes` recorded changes. */
export function simBufferBytes(changes: number): number {
  return SENT_OFFSET + 12 * (changes + 2);
}

/**
 * The publish log of the latency split's feed worker (probe-worker.ts): Int32 head[PROBE_HEAD] =
 * frames logged so far, then from byte 8 a ring of PROBE_ENTRIES (receive time, published time)
 * f64 pairs, entry i at i % PROBE_ENTRIES. A segment logs well under PROBE_ENTRIES frames.
 */
export const PROBE_ENTRIES = 1 << 18;
export const PROBE_HEAD = 0;

export function probeBytes(): number {
  return 8 + 16 * PROBE_ENTRIES;
}

export function probeViews(probe: SharedArrayBuffer): { head: Int32Array; log: Float64Array } {
  return { head: new Int32Array(probe, 0, 2), log: new Float64Array(probe, 8, 2 * PROBE_ENTRIES) };
}
