/**
 * The token universe of a cache: explicit token ids, market groups, or a discovery query
 * (src/discovery: by slug, condition id, token id, tag, text, or the top N by volume or liquidity).
 */
import { ConfigError } from '../errors.js';
import { checkQuery, discover, type DiscoverOptions, type MarketQuery } from '../discovery/queries.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';

/** The tokens (outcomes) of one market, subscribed together (the YES/NO mirror keeps them related). */
export interface MarketGroup {
  /** Condition id; absent for a lone token. */
  market?: string;
  /** Token ids of the market's outcomes (one token for a lone token). */
  tokens: string[];
}

/** What `BookCache.start` accepts as its universe: token ids, `{market, tokens}` groups, or a discovery query. */
export type UniverseSpec = readonly string[] | readonly MarketGroup[] | MarketQuery;

/** A universe ready to subscribe, with the markets discovery described (none for explicit ids). */
export interface ResolvedUniverse {
  groups: MarketGroup[];
  /** The discovered markets behind `groups`. */
  markets: DiscoveredMarket[];
  /** Discovered markets whose books the CLOB does not have yet (hydration window): not in `groups`. */
  pending: DiscoveredMarket[];
  warnings: string[];
}

/** Subscription groups of discovered markets: every outcome of each. */
export function toGroups(markets: readonly DiscoveredMarket[]): MarketGroup[] {
  return markets.map((m) => ({ market: m.conditionId, tokens: m.outcomes.map((o) => o.tokenId) }));
}

/**
 * Normalises an explicit universe to market groups: plain token ids become one group each
 * (no market), duplicates are dropped.
 * @throws ConfigError for anything that is neither a non-empty string nor a `{market, tokens}` group.
 */
export function normalizeGroups(input: readonly (string | MarketGroup)[]): MarketGroup[] {
  const seen = new Set<string>();
  const out: MarketGroup[] = [];
  for (const item of input) {
    if (typeof item === 'string') {
      if (item.length === 0)
        throw new ConfigError('universe', item, 'non-empty token id strings or {market, tokens} groups');
      if (seen.has(item)) continue;
      seen.add(item);
      out.push({ tokens: [item] });
      continue;
    }
    if (
      !item ||
      typeof item !== 'object' ||
      (item.market !== undefined && typeof item.market !== 'string') ||
      !Array.isArray(item.tokens)
    ) {
      throw new ConfigError('universe', item, 'non-empty token id strings or {market, tokens} groups');
    }
    const tokens: string[] = [];
    for (const t of item.tokens) {
      if (typeof t !== 'string' || t.length === 0)
        throw new ConfigError('universe', item, 'groups whose tokens are non-empty strings');
      if (!seen.has(t)) {
        seen.add(t);
        tokens.push(t);
      }
    }
    if (tokens.length > 0) out.push(item.market !== undefined ? { market: item.market, tokens } : { tokens });
  }
  return out;
}

/**
 * Resolves a universe spec to market groups; a query runs discovery with `options`.
 * @throws ConfigError for a malformed spec; the errors of {@link discover} for a query.
 */
export async function resolveUniverse(spec: UniverseSpec, options: DiscoverOptions = {}): Promise<ResolvedUniverse> {
  if (Array.isArray(spec)) {
    return {
      groups: normalizeGroups(spec as readonly (string | MarketGroup)[]),
      markets: [],
      pending: [],
      warnings: [],
    };
  }
  const query = checkQuery(spec, 'universe');
  const r = await discover(query, options);
  return { groups: toGroups(r.markets), markets: r.markets, pending: r.pending, warnings: r.warnings };
}
