/**
 * Tick sizes, as the exchange writes them (docs/PROTOCOL.md 2.4): the texts `book` and
 * `tick_size_change` events carry and `@polymarket/clob-client`'s `createOrder` takes as its
 * `tickSize` option.
 */

/**
 * Every tick size the exchange uses, as text: the four of clob-client 5.x's `TickSize` type, then
 * 0.005 and 0.0025 (new in 2026; clob-client 5.8.1 cannot round orders to them yet).
 */
export const TICK_SIZES = ['0.1', '0.01', '0.001', '0.0001', '0.005', '0.0025'] as const;

/** A tick size as the exchange writes it (`"0.01"`). */
export type TickSize = (typeof TICK_SIZES)[number];

const VALUES = TICK_SIZES.map(Number);

/**
 * The text of a tick size value, or null when it is not one of {@link TICK_SIZES} (NaN included).
 * No allocation: the texts are constants.
 */
export function tickSizeText(tick: number): TickSize | null {
  for (let i = 0; i < VALUES.length; i++) if (VALUES[i] === tick) return TICK_SIZES[i];
  return null;
}
