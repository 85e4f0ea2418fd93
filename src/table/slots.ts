import { invalidArgument } from '../errors.js';

/**
 * Token id to slot allocation, shared by both backends. Slots freed by `release` are reused
 * (lowest first), so a long-running universe with markets opening and settling keeps its memory bounded.
 */
export class SlotAllocator {
  private readonly bySlot: (string | undefined)[];
  private readonly free: number[] = [];
  private next = 0;
  readonly map = new Map<string, number>();

  constructor(readonly capacity: number) {
    this.bySlot = new Array(capacity);
  }

  /** Returns the slot of `tokenId`, allocating one if needed, or -1 when the table is full. */
  acquire(tokenId: string): number {
    const known = this.map.get(tokenId);
    if (known !== undefined) return known;
    let slot: number;
    if (this.free.length > 0) {
      this.free.sort((a, b) => b - a);
      slot = this.free.pop() as number;
    } else if (this.next < this.capacity) {
      slot = this.next++;
    } else {
      return -1;
    }
    this.map.set(tokenId, slot);
    this.bySlot[slot] = tokenId;
    return slot;
  }

  /** Records `tokenId` at a slot chosen elsewhere (the thread that owns allocation). */
  place(tokenId: string, slot: number): void {
    if (slot < 0 || slot >= this.capacity)
      throw invalidArgument('range', `polybook: slot ${slot} is outside the table`);
    const prev = this.bySlot[slot];
    if (prev !== undefined) this.map.delete(prev);
    this.map.set(tokenId, slot);
    this.bySlot[slot] = tokenId;
    if (slot >= this.next) this.next = slot + 1;
  }

  /** Frees the slot of `tokenId`; returns it, or -1 if the token had none. */
  release(tokenId: string): number {
    const slot = this.map.get(tokenId);
    if (slot === undefined) return -1;
    this.map.delete(tokenId);
    this.bySlot[slot] = undefined;
    this.free.push(slot);
    return slot;
  }

  tokenAt(slot: number): string | undefined {
    return this.bySlot[slot];
  }

  get size(): number {
    return this.map.size;
  }
}
