/**
 * The simulator's Gamma API: `/markets/keyset`, `/events/keyset` and the offset-paginated
 * `/markets` and `/events`, answering like the real service (fixtures/polymarket/rest, FIELDS.md):
 * compact JSON with the server's key order, `outcomes` / `outcomePrices` / `clobTokenIds` as
 * JSON-encoded strings, market volume and liquidity as strings beside their numeric twins, event
 * totals as numbers, empty fields omitted, opaque keyset cursors sent back as `after_cursor`.
 */
import { createHash } from 'node:crypto';
import { PRICE_SCALE, priceText } from './decimal.js';
import { type Catalog, type CatalogEvent, type CatalogMarket, isoMicros, isoSeconds } from './catalog.js';

/** An HTTP answer: status, body, extra headers. */
export interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const json = (status: number, value: unknown, headers?: Record<string, string>): Reply => ({
  status,
  // Raw Gamma bodies are compact JSON ending with one newline (a Go encoder).
  body: `${JSON.stringify(value)}\n`,
  ...(headers ? { headers } : {}),
});
const validation = (error: string): Reply => json(422, { type: 'validation error', error });

const IMAGE = 'https://polymarket-upload.s3.us-east-2.amazonaws.com/simulated.png';
const num = (units: number) => units / PRICE_SCALE;
const round = (v: number, d = 6) => Math.round(v * 10 ** d) / 10 ** d;

function closed(m: CatalogMarket): boolean {
  return m.kind === 'closed' || (m.market?.settled ?? false);
}

/** The current prices of a market's two outcomes (last trades; a closed market's are 1 and 0). */
function prices(m: CatalogMarket): [string, string] {
  if (m.market === null || m.market.settled) {
    const w = m.market ? (m.market.yes.ltp >= PRICE_SCALE / 2 ? 0 : 1) : m.winner;
    return w === 0 ? ['1', '0'] : ['0', '1'];
  }
  return [priceText(m.market.yes.ltp), priceText(m.market.no.ltp)];
}

const jsonText = (list: readonly string[]): string => `[${list.map((x) => JSON.stringify(x)).join(', ')}]`;

function tagObjects(e: CatalogEvent): object[] {
  return e.tags.map((t) => ({
    id: t.id,
    label: t.label,
    slug: t.slug,
    forceShow: false,
    createdAt: '2023-11-02T21:03:54.564Z',
    updatedAt: '2026-03-09T22:28:03.349847Z',
    requiresTranslation: false,
  }));
}

/** A Gamma event object; `markets` nests every member (the standalone market form embeds it without). */
function eventObject(e: CatalogEvent, withMarkets: boolean): object {
  const live = e.members.filter((m) => m.kind !== 'placeholder');
  const isClosed = live.length > 0 && live.every(closed);
  const volume24h = e.members.reduce((a, m) => a + (closed(m) ? 0 : m.volume24h), 0);
  const liquidity = e.members.reduce((a, m) => a + (closed(m) ? 0 : m.liquidity), 0);
  const volume = e.members.reduce((a, m) => a + m.volume, 0);
  return {
    id: e.gammaId,
    ticker: e.slug,
    slug: e.slug,
    title: e.title,
    description: e.description,
    resolutionSource: '',
    startDate: new Date(e.startDate).toISOString(),
    creationDate: isoMicros(e.startDate),
    endDate: isoSeconds(e.endDate),
    image: IMAGE,
    icon: IMAGE,
    active: true,
    closed: isClosed,
    archived: false,
    new: false,
    featured: false,
    restricted: true,
    liquidity: round(liquidity, 4),
    volume: round(volume),
    openInterest: round(liquidity * 1.7),
    sortBy: withMarkets ? undefined : 'price',
    createdAt: isoMicros(e.createdAt),
    updatedAt: isoMicros(e.startDate + 86_400_000),
    competitive: 0.93,
    volume24hr: round(volume24h) || undefined,
    volume1wk: round(volume24h * 6.3) || undefined,
    volume1mo: round(volume24h * 27.1) || undefined,
    volume1yr: round(volume * 0.8) || undefined,
    enableOrderBook: true,
    liquidityClob: round(liquidity, 4),
    negRisk: e.negRisk,
    negRiskMarketID: e.negRisk ? e.negRiskMarketId : undefined,
    commentCount: 17,
    markets: withMarkets ? e.members.map((m) => marketObject(m, { events: false, tags: false })) : undefined,
    tags: withMarkets ? tagObjects(e) : undefined,
    cyom: false,
    showAllOutcomes: true,
    showMarketImages: false,
    enableNegRisk: e.negRisk,
    automaticallyActive: true,
    gmpChartMode: 'default',
    negRiskAugmented: false,
    estimateValue: withMarkets ? false : undefined,
    cumulativeMarkets: false,
    pendingDeployment: false,
    deploying: false,
    requiresTranslation: false,
  };
}

/**
 * A Gamma market object in the key order of the 2026 keyset capture. Closed markets lose their
 * liquidity and 24-hour fields and gain `closedTime` and `umaResolutionStatus`; placeholders have
 * no condition id, token ids, prices or `acceptingOrders`.
 */
function marketObject(m: CatalogMarket, o: { events: boolean; tags: boolean }): object {
  const isClosed = closed(m);
  const placeholder = m.kind === 'placeholder';
  const live = !isClosed && !placeholder;
  const mk = m.market;
  const bid = mk && live ? mk.yes.bids.best() : -1;
  const ask = mk && live ? mk.yes.asks.best() : -1;
  const v24 = live && m.volume24h > 0 ? m.volume24h : undefined;
  const liq = live ? m.liquidity : undefined;
  const endTs = mk?.settled ? Math.min(m.endDate, Date.now()) : m.endDate;
  const accepting = isClosed ? false : !placeholder;
  return {
    id: m.gammaId,
    question: m.question,
    conditionId: m.conditionId,
    slug: m.slug,
    resolutionSource: '',
    endDate: isoSeconds(endTs),
    liquidity: liq === undefined ? undefined : String(liq),
    startDate: placeholder ? undefined : new Date(m.startDate).toISOString(),
    image: IMAGE,
    icon: IMAGE,
    description: m.description,
    outcomes: jsonText(m.labels),
    outcomePrices: placeholder ? undefined : jsonText(prices(m)),
    volume: String(m.volume),
    active: !placeholder,
    closed: isClosed,
    marketMakerAddress: '',
    createdAt: isoMicros(m.createdAt),
    updatedAt: isoMicros(m.startDate + 86_400_000),
    closedTime: isClosed ? new Date(endTs).toISOString().replace('T', ' ').replace('Z', '+00') : undefined,
    new: false,
    featured: false,
    submitted_by: '0x91430CaD2d3975766499717fA0D66A78D814E5c5',
    archived: false,
    resolvedBy: placeholder ? undefined : '0x6A9D222616C90FcA5754cd1333cFD9b7fb6a4F74',
    restricted: true,
    groupItemTitle: m.groupItemTitle,
    groupItemThreshold: '0',
    questionID: placeholder ? undefined : m.questionId,
    umaEndDate: isClosed ? new Date(endTs).toISOString() : undefined,
    enableOrderBook: true,
    orderPriceMinTickSize: Number(m.tickSize),
    orderMinSize: mk ? Number(mk.minOrderSize) : 5,
    umaResolutionStatus: isClosed ? 'resolved' : undefined,
    volumeNum: m.volume,
    liquidityNum: liq,
    endDateIso: isoSeconds(endTs).slice(0, 10),
    startDateIso: placeholder ? undefined : new Date(m.startDate).toISOString().slice(0, 10),
    hasReviewedDates: true,
    volume24hr: placeholder ? 0 : v24,
    volume1wk: placeholder ? 0 : v24 && round(v24 * 6.3),
    volume1mo: placeholder ? 0 : v24 && round(v24 * 27.1),
    volume1yr: placeholder ? 0 : round(m.volume * 0.8),
    clobTokenIds: m.tokens ? jsonText(m.tokens) : undefined,
    comboStatus: 'disabled',
    umaBond: '500',
    umaReward: '5',
    volume24hrClob: placeholder ? 0 : v24,
    volumeClob: m.volume,
    liquidityClob: placeholder ? 0 : liq,
    makerBaseFee: placeholder ? undefined : 1000,
    takerBaseFee: placeholder ? undefined : 1000,
    customLiveness: 0,
    acceptingOrders: placeholder ? undefined : accepting,
    negRisk: m.negRisk,
    negRiskMarketID: m.negRisk && !placeholder ? m.event.negRiskMarketId : undefined,
    negRiskRequestID: placeholder ? undefined : '',
    events: o.events ? [eventObject(m.event, false)] : undefined,
    ready: false,
    funded: false,
    acceptingOrdersTimestamp: placeholder ? undefined : isoSeconds(m.startDate),
    tags: o.tags ? tagObjects(m.event) : undefined,
    cyom: false,
    competitive: live ? 0.95 : undefined,
    pagerDutyNotificationEnabled: false,
    approved: true,
    rewardsMinSize: 0,
    rewardsMaxSpread: 0,
    spread: bid >= 0 && ask >= 0 ? round(num(ask - bid), 4) : live ? 1 : undefined,
    lastTradePrice: mk && live ? num(mk.yes.ltp) : undefined,
    bestBid: bid >= 0 ? num(bid) : undefined,
    bestAsk: ask >= 0 ? num(ask) : live ? 1 : undefined,
    automaticallyActive: placeholder ? undefined : true,
    clearBookOnStart: true,
    seriesColor: '',
    showGmpSeries: false,
    showGmpOutcome: false,
    manualActivation: false,
    negRiskOther: false,
    umaResolutionStatuses: '[]',
    pendingDeployment: false,
    deploying: false,
    deployingTimestamp: placeholder ? undefined : new Date(m.startDate - 60_000).toISOString(),
    rfqEnabled: false,
    holdingRewardsEnabled: false,
    feesEnabled: !placeholder,
    requiresTranslation: false,
    feeType: placeholder ? undefined : 'general_fees',
    feeSchedule: placeholder ? undefined : { exponent: 1, rate: 0.05, takerOnly: true, rebateRate: 0.25 },
  };
}

/** Order fields Gamma accepts (FIELDS.md: `volume_num` gives 422). */
const MARKET_ORDERS: Record<string, (m: CatalogMarket) => number> = {
  id: (m) => Number(m.gammaId),
  volume24hr: (m) => (closed(m) ? 0 : m.volume24h),
  volumeNum: (m) => m.volume,
  liquidityNum: (m) => (closed(m) ? 0 : m.liquidity),
  endDate: (m) => m.endDate,
  startDate: (m) => m.startDate,
};
const EVENT_ORDERS: Record<string, (e: CatalogEvent) => number> = {
  id: (e) => Number(e.gammaId),
  volume24hr: (e) => e.members.reduce((a, m) => a + (closed(m) ? 0 : m.volume24h), 0),
  volume: (e) => e.members.reduce((a, m) => a + m.volume, 0),
  liquidity: (e) => e.members.reduce((a, m) => a + (closed(m) ? 0 : m.liquidity), 0),
  endDate: (e) => e.endDate,
  startDate: (e) => e.startDate,
};

/** Keyset cursors: base64url of a 32-byte signature and `{v, k, oh, keys}` (the position), like Gamma's. */
class Cursors {
  constructor(private readonly secret: string) {}

  private sign(payload: string): Buffer {
    return createHash('sha256').update(`${this.secret}/${payload}`).digest();
  }

  encode(kind: string, queryHash: string, offset: number): string {
    const payload = JSON.stringify({ v: 1, k: kind, oh: queryHash, keys: [{ t: 'int', v: String(offset) }] });
    return Buffer.concat([this.sign(payload), Buffer.from(payload)]).toString('base64url');
  }

  /** The offset a cursor stands for, or null when it is not one of ours for this query. */
  decode(kind: string, queryHash: string, cursor: string): number | null {
    const raw = Buffer.from(cursor, 'base64url');
    if (raw.length <= 32) return null;
    const payload = raw.subarray(32).toString('utf8');
    if (!this.sign(payload).equals(raw.subarray(0, 32))) return null;
    try {
      const p = JSON.parse(payload) as { k?: string; oh?: string; keys?: { v?: string }[] };
      const off = Number(p.keys?.[0]?.v);
      return p.k === kind && p.oh === queryHash && Number.isInteger(off) && off >= 0 ? off : null;
    } catch {
      return null;
    }
  }
}

/** Parses `true`/`false` query values (absent: undefined). */
function flag(q: URLSearchParams, name: string): boolean | undefined | 'bad' {
  const v = q.get(name);
  if (v === null) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return 'bad';
}

export class GammaService {
  private readonly cursors: Cursors;

  constructor(
    private readonly catalog: Catalog,
    seed: number | string,
  ) {
    this.cursors = new Cursors(`gamma/${String(seed)}`);
  }

  /** Answers a Gamma path, or null when the path is not Gamma's. */
  handle(path: string, q: URLSearchParams): Reply | null {
    switch (path) {
      case '/markets/keyset':
        return this.list('markets', q, true);
      case '/events/keyset':
        return this.list('events', q, true);
      case '/markets':
        return this.list('markets', q, false);
      case '/events':
        return this.list('events', q, false);
      default:
        return null;
    }
  }

  private filterMarkets(q: URLSearchParams, isClosed: boolean): CatalogMarket[] {
    const slugs = new Set(q.getAll('slug'));
    const cids = new Set(q.getAll('condition_ids').map((c) => c.toLowerCase()));
    const tokens = new Set(q.getAll('clob_token_ids'));
    const ids = new Set(q.getAll('id'));
    const tag = q.get('tag_slug');
    return this.catalog.markets.filter(
      (m) =>
        closed(m) === isClosed &&
        (slugs.size === 0 || slugs.has(m.slug)) &&
        (cids.size === 0 || cids.has(m.conditionId)) &&
        (tokens.size === 0 || m.tokens?.some((t) => tokens.has(t))) &&
        (ids.size === 0 || ids.has(m.gammaId)) &&
        (tag === null || m.event.tags.some((t) => t.slug === tag)),
    );
  }

  private filterEvents(q: URLSearchParams, isClosed: boolean): CatalogEvent[] {
    const slugs = new Set(q.getAll('slug'));
    const ids = new Set(q.getAll('id'));
    const tag = q.get('tag_slug');
    return this.catalog.events.filter((e) => {
      const live = e.members.filter((m) => m.kind !== 'placeholder');
      const c = live.length > 0 && live.every(closed);
      return (
        c === isClosed &&
        (slugs.size === 0 || slugs.has(e.slug)) &&
        (ids.size === 0 || ids.has(e.gammaId)) &&
        (tag === null || e.tags.some((t) => t.slug === tag))
      );
    });
  }

  private list(kind: 'markets' | 'events', q: URLSearchParams, keyset: boolean): Reply {
    if (keyset && q.has('offset')) return validation('offset is not allowed on keyset endpoints');
    const isClosed = flag(q, 'closed');
    const ascending = flag(q, 'ascending');
    const includeTag = flag(q, 'include_tag');
    if (isClosed === 'bad' || ascending === 'bad' || includeTag === 'bad')
      return validation('invalid boolean query parameter');
    const limitText = q.get('limit');
    const max = keyset && kind === 'events' ? 500 : 100;
    const limit = limitText === null ? 20 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) return validation(`invalid limit: ${limitText}`);
    const size = Math.min(limit === 0 ? 20 : limit, max);
    const orderName = q.get('order') ?? 'id';
    const orders: Record<string, (x: never) => number> = kind === 'markets' ? MARKET_ORDERS : EVENT_ORDERS;
    const key = orders[orderName];
    if (key === undefined) return validation(`invalid order field: ${orderName}`);
    // Without an order, ascending ids; with one, descending unless `ascending=true`.
    const asc = ascending ?? q.get('order') === null;
    const items: (CatalogMarket | CatalogEvent)[] =
      kind === 'markets' ? this.filterMarkets(q, isClosed === true) : this.filterEvents(q, isClosed === true);
    const k = key as (x: CatalogMarket | CatalogEvent) => number;
    items.sort((a, b) => (asc ? k(a) - k(b) : k(b) - k(a)) || Number(a.gammaId) - Number(b.gammaId));

    let start = 0;
    const params = [...q.entries()].filter(([n]) => n !== 'after_cursor' && n !== 'limit' && n !== 'offset').sort();
    const queryHash = createHash('sha256').update(JSON.stringify(params)).digest('hex');
    if (keyset) {
      const cursor = q.get('after_cursor');
      if (cursor !== null && cursor !== '') {
        const off = this.cursors.decode(kind, queryHash, cursor);
        if (off === null) return validation('invalid after_cursor');
        start = off;
      }
    } else {
      const offText = q.get('offset');
      start = offText === null ? 0 : Number(offText);
      if (!Number.isInteger(start) || start < 0) return validation(`invalid offset: ${offText}`);
      if (start > 2000) return validation(`offset too large, use /${kind}/keyset for deeper pagination`);
    }
    const page = items.slice(start, start + size);
    const render = (x: CatalogMarket | CatalogEvent) =>
      kind === 'markets'
        ? marketObject(x as CatalogMarket, { events: true, tags: includeTag === true })
        : eventObject(x as CatalogEvent, true);
    if (!keyset) {
      return json(200, page.map(render), {
        deprecation: 'true',
        sunset: 'Fri, 01 May 2026 00:00:00 GMT',
        warning: `299 - "use /${kind}/keyset"`,
      });
    }
    const end = start + page.length;
    return json(200, {
      $schema: `https://gamma-api.polymarket.com/schemas/${kind === 'markets' ? 'Markets' : 'Events'}KeysetListResponse.json`,
      [kind]: page.map(render),
      next_cursor: end < items.length && page.length > 0 ? this.cursors.encode(kind, queryHash, end) : undefined,
    });
  }
}
