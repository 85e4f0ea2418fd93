/**
 * Fault frames. What each fault looks like from a client:
 * - drop:       the socket is destroyed with no close frame (client sees 1006).
 * - close1013:  close frame 1013 "slow consumer: send buffer full".
 * - stall:      socket stays open and PING is still answered, but no market data is sent (until heal()).
 * - deaf:       market data keeps flowing but PING (text and protocol) is no longer answered (until heal()).
 * - malformed:  one bad frame: `garbage` (non-JSON text), `json` (truncated JSON), `decimal` (a price_change
 *               for a subscribed token with invalid decimals). The true book is unchanged.
 * - crossed:    one price_change pair that crosses a token's book (its BUY at or above its best ask, with the
 *               mirror entry), hashes and best_bid/best_ask of that crossed state. Sent to the target
 *               connection(s) only; the simulator's true book stays uncrossed, so the client must resync.
 * - duplicate:  the previous data frame is sent again, byte for byte (or the next one twice).
 * - outOfOrder: the next price_change is stamped earlier than every frame sent before on that connection
 *               (hashes recomputed with that timestamp, so the content still verifies).
 * - settle:     the token's market settles (see Exchange.settle).
 * - oversized:  one text frame of `bytes` bytes (default 16 MiB + 1: over the feed's default frame
 *               limit), whitespace inside `[` `]`. The true book is unchanged.
 * - freeze:     the subscriptions the connection holds now (every token of it, or only `tokenId`) stop
 *               delivering: no `book`, `price_change` entry, trade, tick size or best bid/ask for those
 *               tokens reaches it, while their books keep changing (REST shows it), PING is answered
 *               and its other tokens' data flows (a `price_change` loses only the frozen tokens'
 *               entries). A token subscribed afresh (unsubscribe, subscribe), or a new socket, is not
 *               frozen; heal() ends it. What clients report: connections frozen for hours while
 *               PING/PONG works (docs/PROTOCOL.md 4.1.1).
 */
import type { EntryView } from './events.js';
import { priceChangeText } from './events.js';
import { PRICE_SCALE } from './decimal.js';
import type { Token } from './market.js';
import type { MalformedVariant } from './types.js';
import type { Rng } from './random.js';
import { invalidArgument } from '../errors.js';

export const CLOSE_SLOW_CONSUMER = { code: 1013, reason: 'slow consumer: send buffer full' } as const;
export const CLOSE_RESOLVED = { code: 1000, reason: 'all subscribed assets resolved' } as const;

const GARBAGE = [
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center>cloudflare</center></body>\r\n</html>',
  'garbage \u2603 }{ ][',
  'undefined',
];

const BAD_DECIMALS = ['1e-2', '-0.5', '0.5.1', 'abc', '', '0x10', ' 0.5'];

/** A `price_change` text that crosses `t`'s book, or null if the book has no level to cross. */
export function crossedText(t: Token, ts: number, rng: Rng): string | null {
  const m = t.market;
  const other = t.other;
  const tick = m.tick;
  const size = m.orderSize(rng);
  const ask = t.asks.best();
  const bid = t.bids.best();
  if (ask >= 0) {
    // BUY at (or up to two ticks above) the best ask.
    let price = ask + tick * (1 + rng.int(2));
    if (price > PRICE_SCALE - tick) price = ask;
    const bids = t.bids.clone();
    bids.set(price, size);
    const oAsks = other.asks.clone();
    oAsks.set(PRICE_SCALE - price, size);
    const a: EntryView = { entry: { token: t, side: 'BUY', price, size }, bids };
    const b: EntryView = { entry: { token: other, side: 'SELL', price: PRICE_SCALE - price, size }, asks: oAsks };
    return priceChangeText(m, [a, b], ts);
  }
  if (bid >= 0) {
    let price = bid - tick * (1 + rng.int(2));
    if (price < tick) price = bid;
    const asks = t.asks.clone();
    asks.set(price, size);
    const oBids = other.bids.clone();
    oBids.set(PRICE_SCALE - price, size);
    const a: EntryView = { entry: { token: other, side: 'BUY', price: PRICE_SCALE - price, size }, bids: oBids };
    const b: EntryView = { entry: { token: t, side: 'SELL', price, size }, asks };
    return priceChangeText(m, [a, b], ts);
  }
  return null;
}

/** One malformed frame; `t` (a token of the connection) is used by the `json` and `decimal` variants. */
export function malformedText(variant: MalformedVariant, t: Token | undefined, ts: number, rng: Rng): string {
  if (variant === 'garbage' || t === undefined) return rng.pick(GARBAGE);
  const m = t.market;
  const b = t.bids.best();
  const price = b >= 0 ? b : m.tick;
  const entry = { token: t, side: 'BUY' as const, price, size: t.bids.sizeAt(price) || m.orderSize(rng) };
  if (variant === 'json') {
    const full = priceChangeText(m, [entry], ts);
    return full.slice(0, 20 + rng.int(full.length - 40));
  }
  const bad = rng.pick(BAD_DECIMALS);
  const view: EntryView = rng.chance(0.5) ? { entry, priceText: bad } : { entry, sizeText: bad };
  return priceChangeText(m, [view], ts);
}

/** A text frame of exactly `bytes` bytes (at least 2): `[`, spaces, `]` (an empty array if accepted). */
export function oversizedFrame(bytes: number): Buffer {
  if (!Number.isInteger(bytes) || bytes < 2 || bytes > 1024 * 1024 * 1024)
    throw invalidArgument('range', `oversized: bytes must be an integer from 2 to 2^30, got ${bytes}`);
  const b = Buffer.alloc(bytes, 0x20);
  b[0] = 0x5b;
  b[bytes - 1] = 0x5d;
  return b;
}
