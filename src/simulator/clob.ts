/**
 * The simulator's CLOB REST API: `GET /book`, `POST /books`, `GET /markets` (cursor `MA==` to
 * `LTE=`, every market ever, oldest first), `GET /markets/{condition_id}` and the per-token facts
 * an order needs (`/tick-size`, `/neg-risk`, `/fee-rate`), with the real error
 * bodies (fixtures/polymarket/rest/FIELDS.md "Books, batch and errors"). A market in its hydration
 * window has no book and no CLOB market yet; closed catalog markets are listed but have no book.
 */
import { PRICE_SCALE } from './decimal.js';
import type { Exchange } from './engine.js';
import { type Catalog, type CatalogMarket, isoSeconds } from './catalog.js';
import type { Reply } from './gamma.js';

/** CLOB bodies are compact JSON ending with one newline, errors included (the 59-byte 404 capture). */
const body = (status: number, text: string): Reply => ({ status, body: `${text}\n` });

export const NO_BOOK = '{"error":"No orderbook exists for the requested token id"}';
export const INVALID_TOKEN_ID = '{"error":"Invalid token id"}';
export const INVALID_PAYLOAD = '{"error":"Invalid payload"}';
export const PAYLOAD_TOO_LARGE = '{"error":"Payload exceeds the limit"}';
export const MARKET_NOT_FOUND = '{"error":"market not found"}';
/** Most tokens per `POST /books`. */
export const MAX_BOOKS = 500;
/** Markets per `GET /markets` page. */
export const CLOB_PAGE = 1000;

const IMAGE = 'https://polymarket-upload.s3.us-east-2.amazonaws.com/simulated.png';

export class ClobService {
  constructor(
    private readonly exchange: Exchange,
    private readonly catalog: Catalog,
  ) {}

  /** Markets the CLOB knows: closed catalog markets (the oldest), then the exchange's minted ones. */
  private listed(): CatalogMarket[] {
    const old = this.catalog.markets.filter((m) => m.kind === 'closed');
    const live = this.exchange.markets.filter((m) => m.hydrated).map((m) => this.catalog.entry(m));
    return [...old, ...live];
  }

  /** A CLOB market object (key order of the captures). */
  private marketObject(m: CatalogMarket): object {
    const mk = m.market;
    const closed = m.kind === 'closed' || (mk?.settled ?? false);
    const winner = mk ? (mk.yes.ltp >= PRICE_SCALE / 2 ? 0 : 1) : m.winner;
    const tokens = m.tokens ?? ['', ''];
    return {
      enable_order_book: true,
      active: true,
      closed,
      archived: false,
      accepting_orders: !closed,
      accepting_order_timestamp: isoSeconds(m.startDate),
      minimum_order_size: mk ? Number(mk.minOrderSize) : 5,
      minimum_tick_size: Number(mk ? mk.tickText() : m.tickSize),
      condition_id: m.conditionId,
      question_id: m.questionId,
      question: m.question,
      description: m.description,
      market_slug: m.slug,
      end_date_iso: isoSeconds(m.endDate),
      game_start_time: null,
      seconds_delay: 0,
      fpmm: '',
      maker_base_fee: 1000,
      taker_base_fee: 1000,
      notifications_enabled: true,
      neg_risk: m.negRisk,
      neg_risk_market_id: m.negRisk ? m.event.negRiskMarketId : '',
      neg_risk_request_id: '',
      icon: IMAGE,
      image: IMAGE,
      rewards: { rates: null, min_size: 0, max_spread: 0 },
      is_50_50_outcome: false,
      tokens: tokens.map((id, i) => ({
        token_id: id,
        outcome: m.labels[i],
        price: closed ? (winner === i ? 1 : 0) : mk ? (i === 0 ? mk.yes.ltp : mk.no.ltp) / PRICE_SCALE : 0.5,
        winner: closed && winner === i,
      })),
      tags: m.event.tags.map((t) => t.label),
    };
  }

  /**
   * `GET /tick-size`, `/neg-risk`, `/fee-rate` (`?token_id=`): what clob-client's `createOrder` asks
   * of a token before it signs an order. `/tick-size` answers a number, as the capture does; the
   * other two bodies follow the SDK and the docs (no capture). The simulator's markets charge no fee.
   */
  private tokenFacts(path: string, q: URLSearchParams): Reply | null {
    if (path !== '/tick-size' && path !== '/neg-risk' && path !== '/fee-rate') return null;
    const id = q.get('token_id');
    if (!id) return body(400, INVALID_TOKEN_ID);
    const t = this.exchange.token(id);
    if (!t?.market.hydrated) return body(404, MARKET_NOT_FOUND);
    const m = t.market;
    if (path === '/tick-size') return body(200, JSON.stringify({ minimum_tick_size: Number(m.tickText()) }));
    if (path === '/neg-risk') return body(200, JSON.stringify({ neg_risk: m.negRisk }));
    return body(200, JSON.stringify({ base_fee: 0 }));
  }

  /** Answers a CLOB request, or null when the path is not the CLOB's. */
  handle(method: string, path: string, q: URLSearchParams, text: string): Reply | null {
    if (path === '/book' && method === 'GET') {
      const id = q.get('token_id');
      if (!id) return body(400, INVALID_TOKEN_ID);
      const book = this.exchange.restBook(id);
      return book === null ? body(404, NO_BOOK) : body(200, book);
    }
    if (path === '/books') {
      if (method !== 'POST') return body(400, INVALID_PAYLOAD);
      let items: unknown;
      try {
        items = JSON.parse(text);
      } catch {
        return body(400, INVALID_PAYLOAD);
      }
      if (!Array.isArray(items)) return body(400, INVALID_PAYLOAD);
      if (items.length > MAX_BOOKS) return body(400, PAYLOAD_TOO_LARGE);
      const ids: string[] = [];
      for (const it of items) {
        const id = typeof it === 'object' && it !== null ? (it as Record<string, unknown>).token_id : undefined;
        if (typeof id !== 'string') return body(400, INVALID_PAYLOAD);
        ids.push(id);
      }
      // Unknown and settled tokens are dropped; the order is the server's, not the request's.
      const books = [...new Set(ids)]
        .sort()
        .map((id) => this.exchange.restBook(id))
        .filter((b): b is string => b !== null);
      return body(200, `[${books.join(',')}]`);
    }
    if (method !== 'GET') return null;
    const facts = this.tokenFacts(path, q);
    if (facts !== null) return facts;
    if (path === '/markets' && q.has('next_cursor')) {
      const cursor = q.get('next_cursor') ?? '';
      const start = cursor === '' ? 0 : Number(Buffer.from(cursor, 'base64').toString('utf8'));
      const all = this.listed();
      if (!Number.isInteger(start) || start < 0) return body(400, '{"error":"invalid next_cursor"}');
      const page = all.slice(start, start + CLOB_PAGE);
      const end = start + page.length;
      const next = end >= all.length ? 'LTE=' : Buffer.from(String(end)).toString('base64');
      return body(
        200,
        JSON.stringify({
          data: page.map((m) => this.marketObject(m)),
          next_cursor: next,
          limit: CLOB_PAGE,
          count: page.length,
        }),
      );
    }
    const m = /^\/markets\/(0x[0-9a-fA-F]+)$/.exec(path);
    if (m) {
      const entry = this.catalog.byConditionId(m[1]!.toLowerCase());
      if (!entry || (entry.market !== null && !entry.market.hydrated)) return body(404, MARKET_NOT_FOUND);
      return body(200, JSON.stringify(this.marketObject(entry)));
    }
    return null;
  }
}
