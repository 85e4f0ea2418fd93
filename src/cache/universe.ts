/**
 * The token universe: explicit token ids, market groups, or discovery of active order-book markets
 * from Gamma (`/markets/keyset`, docs/PROTOCOL.md 3.4) or the CLOB (`/markets`, cursor `MA==` to `LTE=`).
 * Base URLs are options, so tests point them at a local HTTP server.
 */
import { ConfigError } from '../errors.js';
import { TokenBucket } from './rest.js';

/** The tokens (outcomes) of one market, subscribed together (the YES/NO mirror keeps them related). */
export interface MarketGroup {
  /** Condition id; absent for a lone token. */
  market?: string;
  tokens: string[];
}

/** A market found by discovery, normalised from Gamma or the CLOB. */
export interface DiscoveredMarket {
  /** Condition id. */
  market: string;
  tokens: string[];
  slug: string;
  question: string;
  /** Tag labels/slugs found on the market (and, for Gamma, its events). */
  tags: string[];
  active: boolean;
  closed: boolean;
  enableOrderBook: boolean;
  acceptingOrders: boolean;
  negRisk: boolean | null;
  endDate: string | null;
  source: 'gamma' | 'clob';
  /** The server's object as received. */
  raw: Record<string, unknown>;
}

export interface DiscoverOptions {
  /** `gamma` (default) or `clob`. */
  source?: 'gamma' | 'clob';
  /** Base URL. Default `https://gamma-api.polymarket.com` or `https://clob.polymarket.com`. */
  baseUrl?: string;
  /** Extra predicate, after the tradeability filter (`active && !closed && enableOrderBook && acceptingOrders`). */
  filter?: (m: DiscoveredMarket) => boolean;
  /** Keeps markets with this tag (label or slug, case-insensitive). */
  tag?: string;
  /** Keeps markets whose slug matches. */
  slug?: RegExp | ((slug: string) => boolean);
  /** Stop after this many markets. */
  limit?: number;
  /** Page size (Gamma caps it at 100). Default 100. */
  pageSize?: number;
  /** Stop after this many pages (a guard). Default 1000. */
  maxPages?: number;
  /** Extra query parameters for Gamma (e.g. `{ tag_id: '21' }`). Default `{ closed: 'false' }`. */
  query?: Record<string, string>;
  /** Request budget. Default 300 per 10 s (Gamma `/markets`), or 9000 per 10 s for the CLOB. */
  rateLimit?: { capacity: number; windowMs: number };
  timeoutMs?: number;
  /** @internal tests */
  fetch?: typeof fetch;
}

export const DEFAULT_GAMMA_URL = 'https://gamma-api.polymarket.com';
export const CLOB_FIRST_CURSOR = 'MA==';
export const CLOB_END_CURSOR = 'LTE=';

/** What `BookCache.start` accepts as its universe. */
export type UniverseSpec = readonly string[] | readonly MarketGroup[] | ({ discover: true } & DiscoverOptions);

/** Whether a market is tradeable on the order book: `active && !closed && enableOrderBook && acceptingOrders`. */
export function isTradeable(m: DiscoveredMarket): boolean {
  return m.active && !m.closed && m.enableOrderBook && m.acceptingOrders && m.tokens.length > 0;
}

function bool(v: unknown): boolean {
  return v === true || v === 'true';
}

function tagNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const t of v) {
    if (typeof t === 'string') out.push(t);
    else if (t && typeof t === 'object') {
      const o = t as Record<string, unknown>;
      for (const k of ['label', 'slug', 'name']) if (typeof o[k] === 'string') out.push(o[k] as string);
    }
  }
  return out;
}

/** `clobTokenIds` is a JSON-encoded string on Gamma (sometimes already an array). */
export function parseClobTokenIds(v: unknown): string[] {
  let arr: unknown = v;
  if (typeof v === 'string') {
    if (v.trim() === '') return [];
    try {
      arr = JSON.parse(v);
    } catch {
      return [];
    }
  }
  return Array.isArray(arr) ? arr.filter((x): x is string => typeof x === 'string' && x.length > 0) : [];
}

/** Normalises one Gamma market object. */
export function fromGamma(m: Record<string, unknown>): DiscoveredMarket {
  const events = Array.isArray(m.events) ? (m.events as Record<string, unknown>[]) : [];
  const tags = [...tagNames(m.tags), ...events.flatMap((e) => (e && typeof e === 'object' ? tagNames(e.tags) : []))];
  return {
    market: String(m.conditionId ?? m.condition_id ?? m.id ?? ''),
    tokens: parseClobTokenIds(m.clobTokenIds),
    slug: typeof m.slug === 'string' ? m.slug : '',
    question: typeof m.question === 'string' ? m.question : '',
    tags,
    active: bool(m.active),
    closed: bool(m.closed),
    enableOrderBook: bool(m.enableOrderBook),
    acceptingOrders: bool(m.acceptingOrders),
    negRisk: typeof m.negRisk === 'boolean' ? m.negRisk : null,
    endDate: typeof m.endDate === 'string' ? m.endDate : null,
    source: 'gamma',
    raw: m,
  };
}

/** Normalises one CLOB `/markets` object. */
export function fromClob(m: Record<string, unknown>): DiscoveredMarket {
  const tokens = Array.isArray(m.tokens)
    ? (m.tokens as Record<string, unknown>[])
        .map((t) => (t && typeof t === 'object' ? t.token_id : undefined))
        .filter((x): x is string => typeof x === 'string' && x.length > 0)
    : [];
  return {
    market: String(m.condition_id ?? ''),
    tokens,
    slug: typeof m.market_slug === 'string' ? m.market_slug : '',
    question: typeof m.question === 'string' ? m.question : '',
    tags: tagNames(m.tags),
    active: bool(m.active),
    closed: bool(m.closed),
    enableOrderBook: bool(m.enable_order_book),
    acceptingOrders: bool(m.accepting_orders),
    negRisk: typeof m.neg_risk === 'boolean' ? m.neg_risk : null,
    endDate: typeof m.end_date_iso === 'string' ? m.end_date_iso : null,
    source: 'clob',
    raw: m,
  };
}

function matches(m: DiscoveredMarket, o: DiscoverOptions): boolean {
  if (!isTradeable(m)) return false;
  if (o.tag !== undefined) {
    const t = o.tag.toLowerCase();
    if (!m.tags.some((x) => x.toLowerCase() === t)) return false;
  }
  if (o.slug !== undefined) {
    const ok = typeof o.slug === 'function' ? o.slug(m.slug) : o.slug.test(m.slug);
    if (!ok) return false;
  }
  return o.filter ? o.filter(m) : true;
}

async function getJson(fetchFn: typeof fetch, url: string, timeoutMs: number): Promise<unknown> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetchFn(url, { headers: { accept: 'application/json' }, signal: ac.signal });
    const text = await res.text();
    if (!res.ok) throw new Error(`polybook: GET ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return JSON.parse(text);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Finds active order-book markets. Returns the full normalised markets (use
 * {@link toGroups} for the subscription groups).
 */
export async function discoverMarkets(options: DiscoverOptions = {}): Promise<DiscoveredMarket[]> {
  const source = options.source ?? 'gamma';
  if (source !== 'gamma' && source !== 'clob') throw new ConfigError('discover.source', source, "'gamma' or 'clob'");
  const limit = options.limit ?? Infinity;
  if (!(limit >= 0)) throw new ConfigError('discover.limit', options.limit, 'a number >= 0');
  const pageSize = options.pageSize ?? 100;
  const maxPages = options.maxPages ?? 1000;
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const base = (options.baseUrl ?? (source === 'gamma' ? DEFAULT_GAMMA_URL : 'https://clob.polymarket.com')).replace(
    /\/+$/,
    '',
  );
  const rl =
    options.rateLimit ??
    (source === 'gamma' ? { capacity: 300, windowMs: 10_000 } : { capacity: 9000, windowMs: 10_000 });
  const bucket = new TokenBucket(rl.capacity, rl.windowMs);
  const out: DiscoveredMarket[] = [];
  const seen = new Set<string>();
  const push = (m: DiscoveredMarket) => {
    if (out.length >= limit || !matches(m, options)) return;
    const tokens = m.tokens.filter((t) => !seen.has(t));
    if (tokens.length === 0) return;
    for (const t of tokens) seen.add(t);
    out.push(tokens.length === m.tokens.length ? m : { ...m, tokens });
  };

  if (source === 'gamma') {
    let cursor: string | undefined;
    for (let page = 0; page < maxPages && out.length < limit; page++) {
      const q = new URLSearchParams({ limit: String(pageSize), ...(options.query ?? { closed: 'false' }) });
      if (cursor !== undefined) q.set('after_cursor', cursor);
      await bucket.take();
      const body = (await getJson(fetchFn, `${base}/markets/keyset?${q}`, timeoutMs)) as {
        markets?: unknown;
        next_cursor?: unknown;
      };
      const markets = Array.isArray(body?.markets) ? body.markets : Array.isArray(body) ? (body as unknown[]) : [];
      for (const m of markets) if (m && typeof m === 'object') push(fromGamma(m as Record<string, unknown>));
      const next = body?.next_cursor;
      if (typeof next !== 'string' || next === '' || next === cursor || markets.length === 0) break;
      cursor = next;
    }
  } else {
    let cursor = CLOB_FIRST_CURSOR;
    for (let page = 0; page < maxPages && out.length < limit && cursor !== CLOB_END_CURSOR; page++) {
      await bucket.take();
      const body = (await getJson(fetchFn, `${base}/markets?next_cursor=${encodeURIComponent(cursor)}`, timeoutMs)) as {
        data?: unknown;
        next_cursor?: unknown;
      };
      const data = Array.isArray(body?.data) ? body.data : [];
      for (const m of data) if (m && typeof m === 'object') push(fromClob(m as Record<string, unknown>));
      const next = body?.next_cursor;
      if (typeof next !== 'string' || next === '' || next === cursor) break;
      cursor = next;
    }
  }
  return out;
}

/** Subscription groups of discovered markets. */
export function toGroups(markets: readonly DiscoveredMarket[]): MarketGroup[] {
  return markets.map((m) => ({ market: m.market, tokens: [...m.tokens] }));
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

/** Resolves any universe spec to market groups (runs discovery when asked). */
export async function resolveUniverse(spec: UniverseSpec): Promise<MarketGroup[]> {
  if (Array.isArray(spec)) return normalizeGroups(spec as readonly (string | MarketGroup)[]);
  if (spec && typeof spec === 'object' && (spec as { discover?: unknown }).discover === true) {
    return toGroups(await discoverMarkets(spec as DiscoverOptions));
  }
  throw new ConfigError(
    'universe',
    spec,
    'an array of token ids, an array of {market, tokens} groups, or {discover: true, ...}',
  );
}

/** Token ids of groups, in order. */
export function groupTokens(groups: readonly MarketGroup[]): string[] {
  return groups.flatMap((g) => g.tokens);
}
