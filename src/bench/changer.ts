/**
 * Changes a published book in place, under the seqlock, from the reading thread and without
 * allocating, so that a loop of "change, then read" measures the read alone: a real writer call
 * costs microseconds and allocates on its own heap. Benchmarks and tests only. The writer's own
 * state no longer matches the slot afterwards: use it on stores that are only read from then on.
 */
import { S_LEVELS, S_SEQUENCE } from '../table/layout.js';
import type { BookStore } from '../table/store.js';

/**
 * What one change does, toggling between two states of the book:
 * - `size`: the size of one bid level changes (the common `price_change`: a size update);
 * - `shift`: a new best bid appears and every other bid moves one position down (an insert at the
 *   top, then its removal), so every published bid level changes position.
 */
export type ChangeKind = 'size' | 'shift';

export class SlotChanger {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly b: number;
  /** f64 index of bid level 0 (price), and of the slot's `sequence`. */
  private readonly lv: number;
  private readonly seqF: number;
  private readonly nb: number;
  /** The bid side as published when the changer was made (price, size pairs), and the shifted one. */
  private readonly orig: Float64Array;
  private readonly shifted: Float64Array;
  private state = 0;

  /**
   * @param level which bid level a `size` change touches (clamped to the published depth).
   */
  constructor(
    store: BookStore,
    tokenId: string,
    private readonly kind: ChangeKind = 'size',
    private readonly level = 0,
  ) {
    const slot = store.slotOf(tokenId);
    if (slot < 0) throw new Error(`SlotChanger: ${tokenId} is not in the store`);
    const r = store.reader;
    this.i32 = r.i32;
    this.f64 = r.f64;
    this.b = r.base32(slot);
    const f = this.b >> 1;
    this.lv = f + S_LEVELS / 8;
    this.seqF = f + S_SEQUENCE / 8;
    this.nb = this.i32[this.b + 2];
    if (this.nb < 2) throw new Error('SlotChanger: the book needs at least two bid levels');
    this.level = Math.min(level, this.nb - 1);
    this.orig = this.f64.slice(this.lv, this.lv + 2 * this.nb);
    this.shifted = new Float64Array(2 * this.nb);
    // A new best bid one tick above, then the old levels one position lower (the worst drops out).
    const p0 = this.orig[0];
    this.shifted[0] = Math.round((p0 + 0.001) * 1000) / 1000;
    this.shifted[1] = 123.45;
    this.shifted.set(this.orig.subarray(0, 2 * this.nb - 2), 2);
  }

  /** Publishes the next state (one change). */
  change(): void {
    const i32 = this.i32;
    const f64 = this.f64;
    const b = this.b;
    const v = i32[b];
    Atomics.store(i32, b, (v + 1) | 0);
    this.state ^= 1;
    const s = this.state;
    if (this.kind === 'size') {
      const at = this.lv + 2 * this.level + 1;
      f64[at] = s === 1 ? this.orig[2 * this.level + 1] + 1 : this.orig[2 * this.level + 1];
    } else {
      const src = s === 1 ? this.shifted : this.orig;
      for (let i = 0; i < src.length; i++) f64[this.lv + i] = src[i];
    }
    f64[this.seqF] += 1;
    Atomics.store(i32, b, (v + 2) | 0);
  }
}
