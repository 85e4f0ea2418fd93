/**
 * Quoting with Polymarket's own client. Every tick it reads each market's first outcome through a
 * handle, skips the tick when the book may not be served, computes a two-sided quote on the book's
 * tick and at least its minimum order size, and builds (signs) the two orders with
 * `@polymarket/clob-client`'s `createOrder`, passing the book's `tickSizeText` and `negRisk`.
 *
 *   npx tsx examples/quote.ts                       # dry run against the built-in simulator, ~3 s
 *   npx tsx examples/quote.ts --live --slug <slug>  # Polymarket's books; posts only with credentials
 *
 * Dry run (the default): a throwaway wallet signs and each order is printed as one JSON line, never
 * posted. With `--live` the books are Polymarket's (`--slug`, `--market` or `--top N` select the
 * markets; default the top one by 24-hour volume), and the orders are posted (GTC, post-only) only
 * when POLYMARKET_PRIVATE_KEY, POLYMARKET_API_KEY, POLYMARKET_API_SECRET and
 * POLYMARKET_API_PASSPHRASE are set (POLYMARKET_FUNDER and POLYMARKET_SIGNATURE_TYPE for a proxy
 * wallet); without them it stays a dry run on the live books. When posting, a token's previous
 * orders are cancelled before it is quoted again, and every order still open at the end.
 *
 * Options: --duration MS (default EXAMPLE_MS or 3000), --url ws://... (another feed, e.g. a running
 * simulator; its REST APIs are on the same origin), --edge TICKS (distance from the mid, default 2),
 * --size SHARES (default: each market's minimum order size).
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Chain,
  ClobClient,
  OrderType,
  Side,
  SignatureType,
  type TickSize as ClobTickSize,
} from '@polymarket/clob-client';
import { createWalletClient, http, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { polygon } from 'viem/chains';
import {
  BookCache,
  type CacheHandle,
  type MarketQuery,
  type Simulator,
  Staleness,
  startSimulator,
  restUrlsFor,
} from 'polybook';

/** The tick sizes clob-client 5.x can round orders to (it has no rounding for 0.005 and 0.0025 yet). */
const CLOB_TICKS: readonly string[] = ['0.1', '0.01', '0.001', '0.0001'] satisfies readonly ClobTickSize[];

/** A two-sided quote on the tick: prices, size, and the tick's decimals. */
interface Quote {
  bid: number;
  ask: number;
  size: number;
}

/**
 * `edge` ticks either side of the mid, rounded outwards to the tick, kept passive (below the best
 * ask and above the best bid, so a post-only order rests) and inside (0, 1). Null when the book is
 * one-sided or too narrow to quote.
 */
export function quote(h: CacheHandle, edge: number, wantSize: number): Quote | null {
  const tick = h.tickSize;
  const text = h.tickSizeText as string;
  if (Number.isNaN(h.bidPrice) || Number.isNaN(h.askPrice)) return null;
  // Integer tick counts: no binary fractions pile up.
  const mid = (h.bidPrice + h.askPrice) / 2 / tick;
  let bid = Math.floor(mid - edge + 1e-9);
  let ask = Math.ceil(mid + edge - 1e-9);
  bid = Math.min(bid, Math.round(h.askPrice / tick) - 1);
  ask = Math.max(ask, Math.round(h.bidPrice / tick) + 1);
  const top = Math.round(1 / tick) - 1;
  bid = Math.max(1, Math.min(bid, top));
  ask = Math.max(1, Math.min(ask, top));
  if (bid >= ask) return null;
  const decimals = text.length - text.indexOf('.') - 1;
  const px = (n: number) => Number((n * tick).toFixed(decimals));
  return { bid: px(bid), ask: px(ask), size: Math.max(wantSize, h.minOrderSize) };
}

interface Setup {
  url: string | undefined;
  universe: MarketQuery;
  sim: Simulator | null;
}

async function setup(values: {
  live?: boolean;
  url?: string;
  slug?: string;
  market?: string;
  top?: string;
}): Promise<Setup> {
  const list = (v: string | undefined) => (v ?? '').split(',').filter(Boolean);
  const universe: MarketQuery =
    values.slug !== undefined
      ? { slugs: list(values.slug) }
      : values.market !== undefined
        ? { markets: list(values.market) }
        : { top: Number(values.top ?? 1), by: 'volume24h' };
  if (values.live) return { url: undefined, universe, sim: null };
  if (values.url) return { url: values.url, universe, sim: null };
  const sim = await startSimulator({ markets: 6, seed: 3, rate: 50 });
  return {
    url: sim.url,
    universe: values.top === undefined && !values.slug && !values.market ? { top: 2 } : universe,
    sim,
  };
}

/** The CLOB client: the credentials' wallet when posting, else a throwaway one (signing needs no network). */
function clobClient(host: string, post: boolean): ClobClient {
  const env = process.env;
  const key = (post ? env.POLYMARKET_PRIVATE_KEY : generatePrivateKey()) as Hex;
  const wallet = createWalletClient({ account: privateKeyToAccount(key), chain: polygon, transport: http(host) });
  if (!post) return new ClobClient(host, Chain.POLYGON, wallet);
  const creds = {
    key: env.POLYMARKET_API_KEY as string,
    secret: env.POLYMARKET_API_SECRET as string,
    passphrase: env.POLYMARKET_API_PASSPHRASE as string,
  };
  const type = Number(env.POLYMARKET_SIGNATURE_TYPE ?? SignatureType.EOA) as SignatureType;
  return new ClobClient(host, Chain.POLYGON, wallet, creds, type, env.POLYMARKET_FUNDER);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      live: { type: 'boolean' },
      url: { type: 'string' },
      slug: { type: 'string' },
      market: { type: 'string' },
      top: { type: 'string' },
      duration: { type: 'string' },
      edge: { type: 'string' },
      size: { type: 'string' },
    },
  });
  const durationMs = Number(values.duration ?? process.env.EXAMPLE_MS ?? 3000);
  const edge = Number(values.edge ?? 2);
  const wantSize = Number(values.size ?? 0);
  const env = process.env;
  const credentials = [
    'POLYMARKET_PRIVATE_KEY',
    'POLYMARKET_API_KEY',
    'POLYMARKET_API_SECRET',
    'POLYMARKET_API_PASSPHRASE',
  ];
  const post = values.live === true && credentials.every((k) => env[k]);
  const { url, universe, sim } = await setup(values);
  // Discovery describes the markets: each book then carries its minimum order size and neg risk.
  const cache = await BookCache.start({ universe, url, feed: { confirmIntervalMs: 100 } });
  const warm = await cache.warmup();
  const host = restUrlsFor(url).clobUrl;
  const clob = clobClient(host, post);
  const mode = post ? 'LIVE: posting post-only GTC orders' : 'dry run: orders are printed, not posted';
  console.error(
    `[quote] ${mode}; ${cache.markets().length} market(s), ${warm.ready}/${warm.total} books ready; CLOB ${host}`,
  );

  const handles = cache.markets().map((m) => cache.handle(m.outcomes[0]!.tokenId));
  const skipped: Record<string, number> = {};
  const skip = (why: string) => (skipped[why] = (skipped[why] ?? 0) + 1);
  const last = new Map<string, string>();
  /** Posted orders still open, by token (live only). */
  const open = new Map<string, string[]>();
  let ticks = 0;
  let orders = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    for (const h of handles) {
      ticks++;
      // The book may not be used (stale, not ready, crossed, settled...): skip the tick.
      if (!h.top(Staleness.fast15m)) {
        skip(h.missReason ?? 'not_served');
        continue;
      }
      const tickSize = h.tickSizeText;
      if (tickSize === null || !CLOB_TICKS.includes(tickSize)) {
        skip('tick_size_not_supported_by_clob_client');
        continue;
      }
      if (h.negRisk === null || Number.isNaN(h.minOrderSize)) {
        skip('market_facts_unknown');
        continue;
      }
      const q = quote(h, edge, wantSize);
      if (q === null) {
        skip('no_quote');
        continue;
      }
      // Requote only when the quote or the tick moved.
      const key = `${q.bid}/${q.ask}/${q.size}/${tickSize}/${h.negRisk}`;
      if (last.get(h.tokenId) === key) continue;
      last.set(h.tokenId, key);
      const previous = open.get(h.tokenId);
      if (previous?.length) await clob.cancelOrders(previous);
      open.set(h.tokenId, []);
      const options = { tickSize: tickSize as ClobTickSize, negRisk: h.negRisk };
      for (const [side, price] of [
        [Side.BUY, q.bid],
        [Side.SELL, q.ask],
      ] as const) {
        const order = await clob.createOrder({ tokenID: h.tokenId, price, size: q.size, side }, options);
        orders++;
        const posted = post ? await clob.postOrder(order, OrderType.GTC, false, true) : null;
        if (posted?.orderID) open.get(h.tokenId)!.push(posted.orderID);
        console.log(
          JSON.stringify({
            tokenId: h.tokenId,
            book: {
              bestBid: h.bidPrice,
              bestAsk: h.askPrice,
              tickSizeText: tickSize,
              negRisk: h.negRisk,
              minOrderSize: h.minOrderSize,
            },
            order: { side, price, size: q.size },
            options,
            signed: {
              side: order.side,
              makerAmount: order.makerAmount,
              takerAmount: order.takerAmount,
              signatureType: order.signatureType,
              signature: `${order.signature.slice(0, 10)}…`,
            },
            posted,
          }),
        );
      }
    }
    await sleep(250);
  }
  const left = [...open.values()].flat();
  if (left.length > 0) await clob.cancelOrders(left);
  const reasons = Object.entries(skipped).map(([k, n]) => `${k}=${n}`);
  console.error(`[quote] ticks=${ticks} orders=${orders} skipped: ${reasons.join(' ') || 'none'}`);
  await cache.stop();
  await sim?.close();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
