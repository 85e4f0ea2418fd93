/**
 * Discovery: the questions users ask, answered from Gamma's keyset endpoints with the CLOB as
 * fallback. By event or market slug, condition id, token id, tag or text, and the top N by
 * 24-hour volume or liquidity. Explicit selections (slugs, ids) must all resolve to tradeable
 * markets, else a {@link DiscoveryError} names what did not; listings keep what is tradeable.
 * A last `POST /books` separates the markets whose books exist from those still in the CLOB's
 * hydration window (reported as pending, never an error).
 */
import { ConfigError, DiscoveryError, HttpError, NetworkError } from '../errors.js';
import { HttpClient, type HttpOptions } from '../rest/http.js';
import { checkHttpUrl } from '../config.js';
import { DEFAULT_CLOB_URL, DEFAULT_GAMMA_URL } from '../rest/urls.js';
import { ClobApi } from './clob.js';
import { GAMMA_MAX_IDS, GammaApi } from './gamma.js';
import { checkBooks } from './hydration.js';
import { type DiscoveredMarket, fromClob, fromGamma, fromGammaEvent, notTradeable } from './normalize.js';

/** How `top` ranks markets. */
export type RankBy = 'volume24h' | 'liquidity';
/** Every {@link RankBy} value, for validating `by` (e.g. a command-line flag). */
export const RANK_BY: readonly RankBy[] = ['volume24h', 'liquidity'];
/** Gamma's `order` value for each ranking. */
const GAMMA_ORDER: Record<RankBy, string> = { volume24h: 'volume24hr', liquidity: 'liquidityNum' };

/** Which markets to find. Explicit selections and a listing (top / tag / text) may be combined: the union is returned. */
export interface MarketQuery {
  /** Event or market slugs (the part after `/event/` in a polymarket.com URL): an event brings its tradeable markets. */
  slugs?: readonly string[];
  /** Condition ids. */
  markets?: readonly string[];
  /** Token ids: the markets that contain them (every outcome of each is followed). */
  tokens?: readonly string[];
  /** A tag slug (`crypto`, `politics`...): the tradeable markets of the open events with that tag. */
  tag?: string;
  /** Words that must all appear in a market's question, event title or slugs (case-insensitive). */
  text?: string;
  /** Keep the first N by `by`: of the tag's or text's markets, or else of every open market. */
  top?: number;
  /** The ranking of `top` and of tag/text results. Default `volume24h`. */
  by?: RankBy;
}

/** Options of {@link discover}: where to ask, with which HTTP client, and how far to go. */
export interface DiscoverOptions {
  /** Gamma base URL. Default `https://gamma-api.polymarket.com`. */
  gammaUrl?: string;
  /** CLOB base URL. Default `https://clob.polymarket.com`. */
  clobUrl?: string;
  /** The HTTP client to use (shares its budgets and counters). Default a new one from `http`. */
  client?: HttpClient;
  /** Options of the HTTP client made when `client` is not given. */
  http?: HttpOptions;
  /** Check with `POST /books` which markets have their books (the hydration window). Default true. */
  checkBooks?: boolean;
  /** Pages read at most per listing (a guard). Default 50. */
  maxPages?: number;
  /** Use the CLOB when Gamma cannot be reached or keeps failing (not for `top` alone). Default true. */
  clobFallback?: boolean;
  /** Counter key in the HTTP client. Default `discovery`. */
  purpose?: string;
  /** Aborts the discovery and its requests; the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@link discover} found: markets to follow now, markets to check again later, and warnings. */
export interface DiscoveryResult {
  /** Tradeable markets whose books the CLOB has: follow these. */
  markets: DiscoveredMarket[];
  /**
   * Tradeable on Gamma, but the CLOB has no book for them yet (a new market's first minutes).
   * Check them again later ({@link checkBooks}); `BookCache` does so on its own.
   */
  pending: DiscoveredMarket[];
  /** What went wrong without failing the discovery (Gamma down and the CLOB used; the book check failed). */
  warnings: string[];
}

const QUERY_KEYS = ['slugs', 'markets', 'tokens', 'tag', 'text', 'top', 'by'] as const;
/** At most this many markets by `top`. */
export const MAX_TOP = 10_000;

function stringList(name: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(name, v, 'an array of non-empty strings');
  const out: string[] = [];
  for (const x of v) {
    if (typeof x !== 'string' || x.trim() === '') throw new ConfigError(name, v, 'an array of non-empty strings');
    out.push(x.trim());
  }
  return [...new Set(out)];
}

function optionalText(name: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(name, v, 'a non-empty string');
  return v.trim();
}

/** A checked copy of a query. @throws ConfigError naming `${name}.<field>`. */
export function checkQuery(
  q: unknown,
  name = 'query',
): Required<Pick<MarketQuery, 'slugs' | 'markets' | 'tokens'>> & MarketQuery {
  if (q === null || typeof q !== 'object' || Array.isArray(q))
    throw new ConfigError(name, q, `an object with any of ${QUERY_KEYS.join(', ')}`);
  for (const k of Object.keys(q))
    if (!(QUERY_KEYS as readonly string[]).includes(k))
      throw new ConfigError(
        `${name}.${k}`,
        (q as Record<string, unknown>)[k],
        `one of the fields ${QUERY_KEYS.join(', ')}`,
      );
  const o = q as Record<string, unknown>;
  const r = {
    slugs: stringList(`${name}.slugs`, o.slugs),
    markets: stringList(`${name}.markets`, o.markets).map((c) => c.toLowerCase()),
    tokens: stringList(`${name}.tokens`, o.tokens),
    tag: optionalText(`${name}.tag`, o.tag),
    text: optionalText(`${name}.text`, o.text),
    top: o.top as number | undefined,
    by: o.by as RankBy | undefined,
  };
  if (r.top !== undefined && (!Number.isInteger(r.top) || r.top < 1 || r.top > MAX_TOP))
    throw new ConfigError(`${name}.top`, o.top, `an integer from 1 to ${MAX_TOP}`);
  if (r.by !== undefined && !RANK_BY.includes(r.by)) throw new ConfigError(`${name}.by`, o.by, RANK_BY.join(' or '));
  const any =
    r.slugs.length + r.markets.length + r.tokens.length > 0 ||
    r.tag !== undefined ||
    r.text !== undefined ||
    r.top !== undefined;
  if (!any) throw new ConfigError(name, q, 'at least one of slugs, markets, tokens, tag, text, top');
  return r;
}

/** Whether Gamma is unavailable (rather than saying no): no answer, 429 or 5xx after the retries. */
function unavailable(e: unknown): boolean {
  return e instanceof NetworkError || (e instanceof HttpError && (e.status === 429 || e.status >= 500));
}

function chunks<T>(list: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}

function textMatcher(text: string): (m: DiscoveredMarket) => boolean {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  return (m) => {
    const hay = `${m.question} ${m.eventTitle ?? ''} ${m.slug} ${m.eventSlug ?? ''}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  };
}

const rankValue = (m: DiscoveredMarket, by: RankBy): number => (by === 'liquidity' ? m.liquidity : m.volume24h);

/** The first `n` by `by`, highest first (ties by condition id, so the order is stable). */
function topBy(list: DiscoveredMarket[], by: RankBy, n: number): DiscoveredMarket[] {
  return [...list]
    .sort(
      (a, b) =>
        rankValue(b, by) - rankValue(a, by) ||
        (a.conditionId < b.conditionId ? -1 : a.conditionId > b.conditionId ? 1 : 0),
    )
    .slice(0, n);
}

/**
 * Finds the markets of `query`.
 * @throws ConfigError for a bad query or option; DiscoveryError when an explicit selection does not
 * resolve to a tradeable market; NetworkError / HttpError when neither Gamma nor the CLOB answers.
 */
export async function discover(query: MarketQuery, options: DiscoverOptions = {}): Promise<DiscoveryResult> {
  const q = checkQuery(query);
  const gammaUrl = checkHttpUrl('gammaUrl', options.gammaUrl ?? DEFAULT_GAMMA_URL);
  const clobUrl = checkHttpUrl('clobUrl', options.clobUrl ?? DEFAULT_CLOB_URL);
  const maxPages = options.maxPages ?? 50;
  if (!Number.isInteger(maxPages) || maxPages < 1)
    throw new ConfigError('maxPages', options.maxPages, 'an integer >= 1');
  const client = options.client ?? new HttpClient(options.http);
  const purpose = options.purpose ?? 'discovery';
  const signal = options.signal;
  const gamma = new GammaApi(client, gammaUrl, purpose, signal);
  const clob = new ClobApi(client, clobUrl, purpose, signal);
  const fallback = options.clobFallback !== false;

  const found = new Map<string, DiscoveredMarket>();
  const problems: string[] = [];
  const warnings: string[] = [];
  const add = (m: DiscoveredMarket) => {
    if (!found.has(m.conditionId)) found.set(m.conditionId, m);
  };
  /** Adds a market named explicitly, or records why it cannot be followed. */
  const pick = (m: DiscoveredMarket, what: string) => {
    const why = notTradeable(m);
    if (why === null) add(m);
    else problems.push(`${what}: ${why}`);
  };

  let gammaDown: unknown = null;
  /** Runs a Gamma call; once Gamma is unavailable (and the fallback allowed), returns undefined. */
  const viaGamma = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    if (gammaDown !== null) return undefined;
    try {
      return await fn();
    } catch (e) {
      if (!fallback || !unavailable(e) || signal?.aborted) throw e;
      gammaDown = e;
      warnings.push(`Gamma is unavailable (${(e as Error).message}); using the CLOB`);
      return undefined;
    }
  };
  /** Scans the CLOB's market list (the fallback of slug, tag and text lookups). */
  const scanClob = async (visit: (m: DiscoveredMarket) => boolean | undefined): Promise<void> => {
    for await (const page of clob.pages(maxPages)) for (const raw of page) if (visit(fromClob(raw)) === false) return;
  };

  if (q.slugs.length > 0) {
    const left = new Set(q.slugs);
    for (const part of chunks(q.slugs, GAMMA_MAX_IDS)) {
      const events = await viaGamma(() => gamma.all('events', { slug: part }, maxPages));
      for (const e of events ?? []) {
        const slug = typeof e.slug === 'string' ? e.slug : '';
        if (!left.delete(slug)) continue;
        const children = fromGammaEvent(e);
        const tradeable = children.filter((m) => notTradeable(m) === null);
        if (tradeable.length === 0)
          problems.push(`event "${slug}" has no tradeable market (${children.length} markets: ${summarise(children)})`);
        for (const m of tradeable) add(m);
      }
    }
    const rest = [...left];
    for (const part of chunks(rest, GAMMA_MAX_IDS)) {
      const markets = await viaGamma(() => gamma.all('markets', { slug: part, include_tag: true }, maxPages));
      for (const raw of markets ?? []) {
        const m = fromGamma(raw);
        if (left.delete(m.slug)) pick(m, `market "${m.slug}"`);
      }
    }
    if (left.size > 0 && gammaDown !== null) {
      await scanClob((m) => {
        if (left.delete(m.slug)) pick(m, `market "${m.slug}"`);
        return left.size > 0;
      });
    }
    for (const s of left) problems.push(`slug "${s}": no open event or market has it`);
  }

  if (q.markets.length > 0) {
    const left = new Set(q.markets);
    for (const part of chunks(q.markets, GAMMA_MAX_IDS)) {
      const markets = await viaGamma(() => gamma.all('markets', { condition_ids: part, include_tag: true }, maxPages));
      for (const raw of markets ?? []) {
        const m = fromGamma(raw);
        if (left.delete(m.conditionId.toLowerCase())) pick(m, `market ${m.conditionId}`);
      }
    }
    // Gamma lists open markets only: ask the CLOB about the others (closed, or Gamma down).
    for (const cid of [...left]) {
      const raw = await clob.market(cid);
      if (raw === null) continue;
      left.delete(cid);
      pick(fromClob(raw), `market ${cid}`);
    }
    for (const cid of left) problems.push(`market ${cid}: unknown to Gamma and the CLOB`);
  }

  if (q.tokens.length > 0) {
    const left = new Set(q.tokens);
    for (const part of chunks(q.tokens, GAMMA_MAX_IDS)) {
      const markets = await viaGamma(() => gamma.all('markets', { clob_token_ids: part, include_tag: true }, maxPages));
      for (const raw of markets ?? []) {
        const m = fromGamma(raw);
        const hits = m.outcomes.filter((o) => left.delete(o.tokenId));
        if (hits.length > 0) pick(m, `token ${short(hits[0]!.tokenId)} (market ${m.conditionId})`);
      }
    }
    for (const t of [...left]) {
      const cid = await clob.marketOfToken(t);
      const raw = cid === null ? null : await clob.market(cid);
      if (raw === null) continue;
      const m = fromClob(raw);
      for (const o of m.outcomes) left.delete(o.tokenId);
      pick(m, `token ${short(t)} (market ${m.conditionId})`);
    }
    for (const t of left) problems.push(`token ${short(t)}: no open market has it (unknown, settled or mistyped)`);
  }

  if (q.top !== undefined || q.tag !== undefined || q.text !== undefined) {
    const by = q.by ?? 'volume24h';
    const limit = q.top ?? Number.POSITIVE_INFINITY;
    const matches = q.text === undefined ? () => true : textMatcher(q.text);
    const tag = q.tag?.toLowerCase();
    let listed: DiscoveredMarket[] = [];
    const keep = (m: DiscoveredMarket) => notTradeable(m) === null && matches(m);
    // Text matches are collected in event-volume order and the listing stops at `top` of them.
    const enough = () => q.text !== undefined && listed.length >= limit;
    if (q.tag !== undefined || q.text !== undefined) {
      await viaGamma(async () => {
        listed = [];
        const query = { closed: false, order: 'volume24hr', ascending: false, tag_slug: q.tag };
        for await (const page of gamma.pages('events', query, maxPages)) {
          for (const e of page) for (const m of fromGammaEvent(e)) if (keep(m)) listed.push(m);
          if (enough()) break;
        }
      });
      if (gammaDown !== null) {
        listed = [];
        await scanClob((m) => {
          if (keep(m) && (tag === undefined || m.tags.some((t) => t.toLowerCase() === tag))) listed.push(m);
          return !enough();
        });
      }
    } else {
      // Gamma ranks every open market; the CLOB knows no volume or liquidity, so no fallback here.
      const query = { closed: false, order: GAMMA_ORDER[by], ascending: false, include_tag: true };
      for await (const page of gamma.pages('markets', query, maxPages)) {
        for (const raw of page) {
          const m = fromGamma(raw);
          if (keep(m)) listed.push(m);
        }
        if (listed.length >= limit) break;
      }
    }
    const seen = new Set<string>();
    listed = listed.filter((m) => !seen.has(m.conditionId) && seen.add(m.conditionId));
    for (const m of topBy(listed, by, limit)) add(m);
  }

  if (problems.length > 0) throw new DiscoveryError(`cannot follow ${problems.join('; ')}`, problems);

  const markets = [...found.values()];
  if (options.checkBooks === false) return { markets, pending: [], warnings };
  const check = await checkBooks(client, clobUrl, markets, { purpose, signal });
  if (check.error !== null)
    warnings.push(`could not check the books (${(check.error as Error).message}); following every market found`);
  return { markets: check.ready, pending: check.pending, warnings };
}

/** `closed 2, no tokens yet (a placeholder) 1`: why the markets of an event cannot be followed. */
function summarise(markets: readonly DiscoveredMarket[]): string {
  const n = new Map<string, number>();
  for (const m of markets) {
    const why = notTradeable(m) ?? 'tradeable';
    n.set(why, (n.get(why) ?? 0) + 1);
  }
  return [...n].map(([k, v]) => `${v} ${k}`).join(', ');
}

/** A token id shortened for messages: `123456…654321`. */
function short(id: string): string {
  return id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id;
}
