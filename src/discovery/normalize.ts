/**
 * One market shape from Gamma and CLOB objects of any vintage (fixtures/polymarket/rest/FIELDS.md):
 * JSON-encoded string fields (`outcomes`, `clobTokenIds`), numbers that may come as strings,
 * omitted fields (Gamma omits false, zero and empty values), the 2024 rows without `negRisk`, and
 * the 2026 `version`/`positionIds`.
 */

/** One outcome of a market: its label (`Yes`, `Up`, a team...) and the CLOB token id that trades it. */
export interface Outcome {
  /** The outcome's name on the exchange (`Yes`, `Up`, a team...); `Outcome N` when the API gives none. */
  label: string;
  /** The CLOB token id (a decimal string) whose book trades this outcome. */
  tokenId: string;
}

/** A market as discovery reports it, whichever API it came from. */
export interface DiscoveredMarket {
  /** Condition id (`0x` + 64 hex): the book's `market`. */
  conditionId: string;
  /** The question the market resolves (its title on polymarket.com); empty when the API gives none. */
  question: string;
  /** The market's own slug. */
  slug: string;
  /** Slug of the event the market belongs to (null when unknown, e.g. from the CLOB). */
  eventSlug: string | null;
  /** Title of that event. */
  eventTitle: string | null;
  /** Outcome labels with their token ids, in the exchange's order (index 0 is the first outcome, usually Yes/Up). */
  outcomes: Outcome[];
  /** Minimum price increment, e.g. 0.01. */
  tickSize: number;
  /** The exchange's text of the tick size (`"0.01"`), as clob-client's `TickSize` and the book's `tick_size`. */
  tickSizeText: string;
  /** Minimum order size in shares, e.g. 5. */
  minOrderSize: number;
  /** The `/book` text of the minimum order size (`"5"`), an input of the book hash. */
  minOrderSizeText: string;
  /** Whether the market trades on the neg-risk exchange (orders must say so). */
  negRisk: boolean;
  /** Nominal end (ISO 8601), not a trading cutoff; null when unknown. */
  endDate: string | null;
  /** Volume of the last 24 hours (USDC); 0 when the API does not say (Gamma omits zeros, the CLOB has none). */
  volume24h: number;
  /** Order-book liquidity (USDC); 0 when the API does not say. */
  liquidity: number;
  /** The market is live on the exchange (Gamma and the CLOB's `active`; false when omitted). */
  active: boolean;
  /** The market has closed for trading (false when omitted; Gamma may say closed while orders are still accepted). */
  closed: boolean;
  /** The exchange accepts orders on it now (`acceptingOrders` / `accepting_orders`; false when omitted). */
  acceptingOrders: boolean;
  /** The market has a CLOB order book (`enableOrderBook` / `enable_order_book`; false when omitted). */
  enableOrderBook: boolean;
  /** Gamma's `umaResolutionStatus` (`proposed`, `resolved`...), or `resolved` when the CLOB names a winner; else null. */
  resolution: string | null;
  /** The catch-all "Other" member of a neg-risk event. */
  negRiskOther: boolean;
  /** Tag slugs of the market and its event (Gamma), or the CLOB's tag names. */
  tags: string[];
  /** Which API described the market. */
  source: 'gamma' | 'clob';
}

/**
 * A JSON object as an API sent it, fields not yet checked.
 * @inline
 */
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Booleans: Gamma omits false values, so anything but `true` (or `"true"`) is false. */
function bool(v: unknown): boolean {
  return v === true || v === 'true';
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** A number sent as a number or a decimal string; null when absent or not a finite number. */
export function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** A list sent as a JSON array or as a JSON-encoded string of one (`"[\"Yes\", \"No\"]"`); [] otherwise. */
export function jsonList(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v !== 'string' || v.trim() === '') return [];
  try {
    const parsed: unknown = JSON.parse(v);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** Plain decimal text of a number (no exponent, no trailing zeros): 0.01 -> "0.01", 5 -> "5". */
export function decimalText(n: number): string {
  const s = String(n);
  if (!/e/i.test(s)) return s;
  return n.toFixed(20).replace(/\.?0+$/, '');
}

function tagSlugs(v: unknown): string[] {
  const out: string[] = [];
  for (const t of jsonList(v)) {
    if (typeof t === 'string') out.push(t);
    else if (isObj(t)) {
      const s = str(t.slug) ?? str(t.label);
      if (s !== null) out.push(s);
    }
  }
  return out;
}

function outcomes(labels: unknown[], ids: unknown[]): Outcome[] {
  const out: Outcome[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'string' || id === '') return []; // a half-minted market: no usable tokens yet
    const label = labels[i];
    out.push({ label: typeof label === 'string' && label !== '' ? label : `Outcome ${i + 1}`, tokenId: id });
  }
  return out;
}

/** Token ids of a Gamma market: `positionIds` for a V2 market, else `clobTokenIds` (a JSON string). */
function gammaTokenIds(m: Obj): unknown[] {
  const positions = Array.isArray(m.positionIds) ? m.positionIds : [];
  if (m.version === 'v2' && positions.length > 0) return positions;
  const ids = jsonList(m.clobTokenIds);
  return ids.length > 0 ? ids : positions;
}

/**
 * Normalises a Gamma market object. `event` is the event it was nested in (events list their
 * markets without an `events` field); otherwise the market's own first event is used.
 */
export function fromGamma(m: Obj, event?: Obj): DiscoveredMarket {
  const ev = event ?? (Array.isArray(m.events) && isObj(m.events[0]) ? m.events[0] : undefined);
  const tick = num(m.orderPriceMinTickSize) ?? 0.01;
  const minSize = num(m.orderMinSize) ?? 5;
  const tags = [...tagSlugs(m.tags), ...(ev ? tagSlugs(ev.tags) : [])];
  return {
    conditionId: str(m.conditionId) ?? '',
    question: str(m.question) ?? '',
    slug: str(m.slug) ?? '',
    eventSlug: ev ? str(ev.slug) : null,
    eventTitle: ev ? str(ev.title) : null,
    outcomes: outcomes(jsonList(m.outcomes), gammaTokenIds(m)),
    tickSize: tick,
    tickSizeText: decimalText(tick),
    minOrderSize: minSize,
    minOrderSizeText: decimalText(minSize),
    negRisk: bool(m.negRisk),
    endDate: str(m.endDate),
    volume24h: num(m.volume24hr) ?? 0,
    // The string is exact; 2024 rows round liquidityNum to cents.
    liquidity: num(m.liquidity) ?? num(m.liquidityNum) ?? 0,
    active: bool(m.active),
    closed: bool(m.closed),
    acceptingOrders: bool(m.acceptingOrders),
    enableOrderBook: bool(m.enableOrderBook),
    resolution: str(m.umaResolutionStatus),
    negRiskOther: bool(m.negRiskOther),
    tags: [...new Set(tags)],
    source: 'gamma',
  };
}

/** Normalises every market nested in a Gamma event (closed ones and placeholders included: filter with {@link isTradeable}). */
export function fromGammaEvent(e: Obj): DiscoveredMarket[] {
  const markets = Array.isArray(e.markets) ? e.markets : [];
  return markets.filter(isObj).map((m) => fromGamma(m, e));
}

/** Normalises a CLOB `/markets` object (numbers for sizes, `tokens[]` with outcome labels). */
export function fromClob(m: Obj): DiscoveredMarket {
  const tokens = Array.isArray(m.tokens) ? m.tokens.filter(isObj) : [];
  const tick = num(m.minimum_tick_size) ?? 0.01;
  const minSize = num(m.minimum_order_size) ?? 5;
  return {
    conditionId: str(m.condition_id) ?? '',
    question: str(m.question) ?? '',
    slug: str(m.market_slug) ?? '',
    eventSlug: null,
    eventTitle: null,
    outcomes: outcomes(
      tokens.map((t) => t.outcome),
      tokens.map((t) => t.token_id),
    ),
    tickSize: tick,
    tickSizeText: decimalText(tick),
    minOrderSize: minSize,
    minOrderSizeText: decimalText(minSize),
    negRisk: bool(m.neg_risk),
    endDate: str(m.end_date_iso),
    volume24h: 0,
    liquidity: 0,
    active: bool(m.active),
    closed: bool(m.closed),
    acceptingOrders: bool(m.accepting_orders),
    enableOrderBook: bool(m.enable_order_book),
    resolution: tokens.some((t) => t.winner === true) ? 'resolved' : null,
    negRiskOther: false,
    tags: tagSlugs(m.tags),
    source: 'clob',
  };
}

/**
 * Why a market cannot be followed, or null when it can: it must be active, not closed, have its
 * order book enabled, accept orders, not be under resolution, not be a neg-risk "Other" member,
 * and have two or more minted tokens. `closed` and `acceptingOrders` are both checked: Gamma can
 * say closed while still accepting orders.
 */
export function notTradeable(m: DiscoveredMarket): string | null {
  if (m.conditionId === '' || m.outcomes.length < 2) return 'no tokens yet (a placeholder)';
  if (m.closed) return 'closed';
  if (!m.active) return 'not active';
  if (!m.enableOrderBook) return 'no order book';
  if (!m.acceptingOrders) return 'not accepting orders';
  if (m.resolution !== null) return `being resolved (${m.resolution})`;
  if (m.negRiskOther) return 'the "Other" member of a neg-risk event';
  return null;
}

/** Whether the market can be followed and traded now (see {@link notTradeable}). */
export function isTradeable(m: DiscoveredMarket): boolean {
  return notTradeable(m) === null;
}
