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
