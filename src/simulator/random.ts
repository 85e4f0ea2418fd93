/**
 * A small seeded PRNG (sfc32) with named, independent streams: the same seed and stream label
 * always give the same sequence, on every platform.
 */
import { PolybookError } from '../errors.js';

/** 32-bit FNV-1a of a text, then a splitmix32 finaliser. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` and `stream` together select the sequence. */
  constructor(seed: number | string, stream = '') {
    let s = hash32(`${String(seed)}/${stream}`);
    const next = () => (s = mix32(s));
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new PolybookError('POLYBOOK_INTERNAL', 'polybook simulator: pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Number of failures before the first success, success probability `p` (0 < p <= 1). */
  geometric(p: number): number {
    let n = 0;
    while (n < 1000 && !this.chance(p)) n++;
    return n;
  }

  /** `digits` lowercase hex characters. */
  hex(digits: number): string {
    let out = '';
    while (out.length < digits) out += this.u32().toString(16).padStart(8, '0');
    return out.slice(0, digits);
  }

  /** A uniform unsigned 256-bit integer as a bigint. */
  u256(): bigint {
    return BigInt(`0x${this.hex(64)}`);
  }
}
