/**
 * Fixed-point prices and sizes as the simulator keeps them, and their wire texts.
 * Prices are integers in units of 0.0001 (PRICE_SCALE = 1), sizes are integers in cents.
 * Texts are formatted like the exchange does: no trailing zeros ("0.5", "0.064", "739777", "8.58").
 */
import { PolybookError, invalidArgument } from '../errors.js';
import { TICK_SIZES as EXCHANGE_TICK_SIZES } from '../protocol/tick.js';

/** Price units per 1.0. */
export const PRICE_SCALE = 10_000;

/** Tick sizes the exchange uses (docs/PROTOCOL.md 2.4), in price units. */
export const TICK_SIZES: Readonly<Record<string, number>> = Object.fromEntries(
  EXCHANGE_TICK_SIZES.map((t) => [t, Math.round(Number(t) * PRICE_SCALE)]),
);

const priceTexts: string[] = [];
for (let u = 0; u <= PRICE_SCALE; u++) {
  if (u === 0) priceTexts.push('0');
  else if (u === PRICE_SCALE) priceTexts.push('1');
  else priceTexts.push(`0.${String(u).padStart(4, '0').replace(/0+$/, '')}`);
}

/** Text of a price in [0, 1] given in price units. */
export function priceText(units: number): string {
  const t = priceTexts[units];
  if (t === undefined) throw new PolybookError('POLYBOOK_INTERNAL', `polybook simulator: price out of range: ${units}`);
  return t;
}

/** Text of a size given in cents. */
export function sizeText(cents: number): string {
  const whole = Math.floor(cents / 100);
  const frac = cents - whole * 100;
  if (frac === 0) return String(whole);
  if (frac % 10 === 0) return `${whole}.${frac / 10}`;
  return `${whole}.${frac < 10 ? '0' : ''}${frac}`;
}

/** Price units of a tick-size text; throws for values the exchange does not use. */
export function tickUnits(text: string): number {
  const u = TICK_SIZES[text];
  if (u === undefined)
    throw invalidArgument(
      'range',
      `unsupported tick size "${text}" (use one of ${Object.keys(TICK_SIZES).join(', ')})`,
    );
  return u;
}
