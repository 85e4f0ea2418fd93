/**
 * The simulated market universe: deterministic ids (77-78 digit token ids, 0x+64 hex condition ids),
 * metadata and opening books, all from the seed.
 */
import { TICK_SIZES, tickUnits } from './decimal.js';
import { planCatalog, type Catalog } from './catalog.js';
import { Market, type MarketSpec } from './market.js';
import { Rng } from './random.js';

const MIN_TOKEN_ID = 10n ** 76n;

/** A uniform 256-bit token id with 77 or 78 decimal digits. */
export function tokenId(rng: Rng): string {
  for (;;) {
    const v = rng.u256();
    if (v >= MIN_TOKEN_ID) return v.toString();
  }
}

export interface UniverseOptions {
  seed: number | string;
  markets: number;
  /** Fixed tick size for every market; default a seeded mix of "0.01" and "0.001". */
  tickSize?: string;
  minOrderSize: string;
  /** Exchange time (ms) the opening books are dated from (each is up to 2 minutes older). */
  baseTs: number;
}

export function createMarkets(o: UniverseOptions): { markets: Market[]; catalog: Catalog } {
  const ids = new Rng(o.seed, 'ids');
  const meta = new Rng(o.seed, 'meta');
  const books = new Rng(o.seed, 'books');
  const fixedTick = o.tickSize === undefined ? undefined : tickUnits(o.tickSize);
  const seen = new Set<string>();
  const specs: Omit<MarketSpec, 'labels'>[] = [];
  for (let i = 0; i < o.markets; i++) {
    let conditionId: string;
    let yesId: string;
    let noId: string;
    do {
      conditionId = `0x${ids.hex(64)}`;
      yesId = tokenId(ids);
      noId = tokenId(ids);
    } while (seen.has(conditionId) || seen.has(yesId) || seen.has(noId) || yesId === noId);
    seen.add(conditionId).add(yesId).add(noId);
    const coarse = meta.chance(0.7);
    const tick = fixedTick ?? (coarse ? TICK_SIZES['0.01']! : TICK_SIZES['0.001']!);
    specs.push({
      index: i,
      id: String(600_000 + i),
      conditionId,
      yesId,
      noId,
      tick,
      minOrderSize: o.minOrderSize,
      negRisk: meta.chance(0.3),
    });
  }
  const plan = planCatalog(
    o.seed,
    specs.map((s) => s.negRisk),
    o.baseTs,
  );
  const markets = specs.map((s) => {
    const m = new Market({ ...s, labels: plan.labels(s.index) });
    m.populate(books, o.baseTs);
    return m;
  });
  return { markets, catalog: plan.bind(markets) };
}
