/**
 * Discovery: every REST fixture parsed into the normalised market (outcome labels to token ids, tick
 * and minimum size, neg risk, volume ranking, closed children and placeholders of events filtered
 * out, 2024 and 2026 schemas); the simulator's REST answers compared with the real ones; and
 * discovery end to end against the simulator over loopback: by slug, condition id, token id, tag,
 * text and top N, retries, the CLOB fallback and the hydration window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FIXTURES } from './helpers.js';
import {
  checkBooks,
  discover,
  fromClob,
  fromGamma,
  fromGammaEvent,
  isTradeable,
  notTradeable,
  type DiscoveredMarket,
} from '../src/discovery/index.js';
import { HttpClient } from '../src/rest/http.js';
import { bookHash } from '../src/protocol/hash.js';
import { DiscoveryError, HttpError, NetworkError } from '../src/errors.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js';

const REST = join(FIXTURES, 'rest');
const text = (name: string) => readFileSync(join(REST, name), 'utf8');
const json = <T = any>(name: string): T => JSON.parse(text(name)) as T;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function sim(o: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({ rate: 0, seed: 5, ...o });
  cleanups.push(() => s.close());
  return s;
}

/** Options pointing discovery at a simulator, with waits that do not sleep. */
function at(s: Simulator, extra: Parameters<typeof discover>[1] = {}) {
  return {
    gammaUrl: s.httpUrl,
    clobUrl: s.httpUrl,
    client: new HttpClient({ sleep: async () => {}, limits: false }),
    ...extra,
  };
}

/** A loopback server answering GET/POST with `answer(path, query, body)` (JSON), counting requests. */
async function standIn(answer: (path: string, q: URLSearchParams, body: string) => unknown) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push(`${req.method} ${u.pathname}${u.search}`);
      const out = answer(u.pathname, u.searchParams, body);
      if (out === undefined) res.writeHead(404).end('{"error":"not found"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url, seen };
}

/** The docs/PROTOCOL.md 2.9 hash of a REST `/book` body. */
const restHash = (b: any): string =>
  bookHash({
    market: b.market,
    assetId: b.asset_id,
    timestamp: b.timestamp,
    bids: b.bids.map((l: any) => [l.price, l.size]),
    asks: b.asks.map((l: any) => [l.price, l.size]),
    minOrderSize: b.min_order_size,
    tickSize: b.tick_size,
    negRisk: b.neg_risk,
    lastTradePrice: b.last_trade_price,
  });

const ids = (ms: readonly DiscoveredMarket[]) => ms.map((m) => m.conditionId);
const labels = (m: DiscoveredMarket) => m.outcomes.map((o) => o.label);

/** What each REST fixture must parse to. Every file of fixtures/polymarket/rest is listed. */
const CHECKS: Record<string, () => void | Promise<void>> = {
  'gamma_markets-keyset_vtrade.json': () => {
    const page = json('gamma_markets-keyset_vtrade.json');
    expect(Object.keys(page)).toEqual(['$schema', 'markets', 'next_cursor']);
    const m = fromGamma(page.markets[0]);
    expect(m).toMatchObject({
      conditionId: '0x1fad72fae204143ff1c3035e99e7c0f65ea8d5cd9bd1070987bd1a3316f772be',
      question: 'New Rihanna Album before GTA VI?',
      slug: 'new-rhianna-album-before-gta-vi-926',
      eventSlug: 'what-will-happen-before-gta-vi',
      tickSize: 0.01,
      tickSizeText: '0.01',
      minOrderSize: 5,
      minOrderSizeText: '5',
      negRisk: false,
      endDate: '2026-07-31T12:00:00Z',
      volume24h: 524.9274319999998,
      liquidity: 18626.7189,
      active: true,
      closed: false,
      acceptingOrders: true,
      source: 'gamma',
    });
    // clobTokenIds and outcomes are JSON-encoded strings: decoded twice, paired by index.
    expect(m.outcomes).toEqual([
      { label: 'Yes', tokenId: '98022490269692409998126496127597032490334070080325855126491859374983463996227' },
      { label: 'No', tokenId: '53831553061883006530739877284105938919721408776239639687877978808906551086026' },
    ]);
    expect(m.tags).toEqual(expect.arrayContaining(['politics', 'gta-vi']));
    expect(isTradeable(m)).toBe(true);
    // The keyset cursor: base64url of a 32-byte signature and the position (the last id).
    const cursor = Buffer.from(page.next_cursor, 'base64url');
    expect(JSON.parse(cursor.subarray(32).toString())).toMatchObject({ v: 1, k: 'markets', keys: [{ v: '540817' }] });
  },
  'gamma_markets-keyset-closed-resolved_vtrade.json': () => {
    const m = fromGamma(json('gamma_markets-keyset-closed-resolved_vtrade.json').markets[0]);
    // 2022-24 schema: no negRisk, no volume24hr, no liquidity (omitted, not null).
    expect(m).toMatchObject({ closed: true, resolution: 'resolved', negRisk: false, volume24h: 0, liquidity: 0 });
    expect(notTradeable(m)).toBe('closed');
    // The same condition is the first row of the CLOB's first /markets page, with the same tokens.
    const clob = fromClob(json('clob_markets_nautilus.json').data[0]);
    expect(clob.conditionId).toBe(m.conditionId);
    expect(clob.outcomes).toEqual(m.outcomes);
  },
  'gamma_events-keyset_vtrade.json': () => {
    const page = json('gamma_events-keyset_vtrade.json');
    expect(Object.keys(page)).toEqual(['$schema', 'events', 'next_cursor']);
    const children = fromGammaEvent(page.events[0]);
    expect(children).toHaveLength(4);
    expect(children.map(notTradeable)).toEqual(['closed', 'closed', null, 'no tokens yet (a placeholder)']);
    const open = children.filter(isTradeable);
    expect(open.map((m) => m.question)).toEqual(['Kraken IPO by December 31, 2026?']);
    // Market liquidity and volume are strings (event ones numbers); the event gives the slug and title.
    expect(open[0]).toMatchObject({
      liquidity: 3669.4699,
      volume24h: 96.50615200000001,
      eventSlug: 'kraken-ipo-in-2025',
      eventTitle: 'Kraken IPO by ___ ?',
      tickSizeText: '0.01',
    });
    expect(open[0]!.tags).toContain('crypto');
    // The placeholder has no tokens at all (no clobTokenIds, no outcomePrices).
    expect(children[3]!.outcomes).toEqual([]);
  },
  'gamma_markets_polymarket-agents.json': async () => {
    const rows = json<any[]>('gamma_markets_polymarket-agents.json');
    const ms = rows.map((r) => fromGamma(r));
    expect(ms).toHaveLength(20);
    expect(ms.every(isTradeable)).toBe(true);
    // 2024 rows: negRisk absent on two of them (false), no fee fields; ticks 0.01 and 0.001.
    expect(ms.filter((_, i) => !('negRisk' in rows[i])).map((m) => m.negRisk)).toEqual([false, false]);
    expect(new Set(ms.map((m) => m.tickSizeText))).toEqual(new Set(['0.01', '0.001']));
    expect(new Set(ms.map((m) => m.minOrderSizeText))).toEqual(new Set(['5']));
    // Ranking by 24-hour volume (absent = 0) and by liquidity, through discovery's top N.
    const g = await standIn((path) => (path === '/markets/keyset' ? { markets: rows } : undefined));
    const opts = { gammaUrl: g.url, clobUrl: g.url, checkBooks: false };
    const byVolume = await discover({ top: 3 }, opts);
    expect(byVolume.markets.map((m) => m.volume24h)).toEqual([7261.41, 6391.63, 3061.39]);
    const byLiquidity = await discover({ top: 2, by: 'liquidity' }, opts);
    expect(byLiquidity.markets.map((m) => m.liquidity)).toEqual([168370.68576, 37234.10254]);
    expect(g.seen[0]).toBe(
      'GET /markets/keyset?limit=100&closed=false&order=volume24hr&ascending=false&include_tag=true',
    );
    expect(g.seen[1]).toContain('order=liquidityNum');
  },
  'gamma_market-by-id_gopolymarket.json': () => {
    const raw = json('gamma_market-by-id_gopolymarket.json');
    const m = fromGamma(raw);
    // 2026 drift: version "v1" and a real positionIds array; v1 trades the clobTokenIds.
    expect(raw.version).toBe('v1');
    expect(Array.isArray(raw.positionIds)).toBe(true);
    expect(m.outcomes.map((o) => o.tokenId)).toEqual(JSON.parse(raw.clobTokenIds));
    expect(m.outcomes.map((o) => o.tokenId)).not.toEqual(raw.positionIds);
    expect(m).toMatchObject({ tickSizeText: '0.001', tickSize: 0.001, negRisk: false, eventSlug: null });
    // A V2 market trades its position ids.
    expect(fromGamma({ ...raw, version: 'v2' }).outcomes.map((o) => o.tokenId)).toEqual(raw.positionIds);
  },
  'clob_clob-markets_equinox.json': () => {
    // The compact /clob-markets form of the same market (Xi): the same tokens and labels.
    const c = json('clob_clob-markets_equinox.json');
    const m = fromGamma(json('gamma_market-by-id_gopolymarket.json'));
    expect(c.c).toBe(m.conditionId);
    expect(c.t.map((t: any) => ({ label: t.o, tokenId: t.t }))).toEqual(m.outcomes);
    expect(String(c.mts)).toBe(m.tickSizeText);
    expect(String(c.mos)).toBe(m.minOrderSizeText);
    expect(c.nr).toBeUndefined(); // omitted when false
  },
  'gamma_market_nautilus.json': () => {
    const m = fromGamma(json('gamma_market_nautilus.json'));
    expect(labels(m)).toEqual(['Up', 'Down']);
    expect(m).toMatchObject({ eventSlug: 'btc-updown-5m-1773307200', tickSizeText: '0.01', negRisk: false });
    expect(isTradeable(m)).toBe(true);
  },
  'gamma_market-negrisk_nautilus-pr4272.json': () => {
    const m = fromGamma(json('gamma_market-negrisk_nautilus-pr4272.json'));
    expect(m).toMatchObject({
      negRisk: true,
      tickSizeText: '0.001',
      eventSlug: 'democratic-presidential-nominee-2028',
    });
    expect(isTradeable(m)).toBe(true);
  },
  'gamma_market-closed-accepting_nautilus.json': () => {
    // closed:true while acceptingOrders:true: not tradeable.
    const m = fromGamma(json('gamma_market-closed-accepting_nautilus.json'));
    expect(m).toMatchObject({ closed: true, acceptingOrders: true });
    expect(notTradeable(m)).toBe('closed');
  },
  'clob_market-closed-accepting_nautilus.json': () => {
    const m = fromClob(json('clob_market-closed-accepting_nautilus.json'));
    expect(m).toMatchObject({ closed: true, acceptingOrders: true, resolution: 'resolved', source: 'clob' });
    expect(notTradeable(m)).toBe('closed');
    expect(m.conditionId).toBe(fromGamma(json('gamma_market-closed-accepting_nautilus.json')).conditionId);
  },
  'gamma_market-sports-moneyline_nautilus.json': () => {
    const m = fromGamma(json('gamma_market-sports-moneyline_nautilus.json'));
    expect(labels(m)).toEqual(['FaZe', 'illwill']);
    expect(m).toMatchObject({ resolution: 'resolved', tickSizeText: '0.001' });
    expect(isTradeable(m)).toBe(false);
  },
  'gamma_events_nautilus.json': () => {
    const events = json<any[]>('gamma_events_nautilus.json'); // the offset API: a bare array
    const ms = fromGammaEvent(events[0]);
    expect(ms.map(isTradeable)).toEqual([true, true]);
    expect(ms.map((m) => m.eventSlug)).toEqual([
      'democratic-presidential-nominee-2028',
      'democratic-presidential-nominee-2028',
    ]);
    expect(ms.every((m) => m.negRisk && m.tickSizeText === '0.001')).toBe(true);
  },
  'clob_markets_nautilus.json': () => {
    const page = json('clob_markets_nautilus.json');
    expect(page).toMatchObject({ next_cursor: 'MTAw', limit: 100, count: 100 });
    const ms = page.data.map((r: any) => fromClob(r)) as DiscoveredMarket[];
    // The oldest markets first: one of 100 is tradeable. Sizes are numbers, formatted as the book's texts.
    const open = ms.filter(isTradeable);
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ tickSizeText: '0.01', minOrderSizeText: '5', volume24h: 0, eventSlug: null });
    expect(labels(open[0]!)).toEqual(['Democratic', 'Republican']);
  },
  'clob_market_nautilus.json': () => {
    const m = fromClob(json('clob_market_nautilus.json'));
    expect(m).toMatchObject({ negRisk: true, tickSize: 0.001, tickSizeText: '0.001', minOrderSizeText: '5' });
    expect(labels(m)).toEqual(['Yes', 'No']);
  },
  'clob_book_vtrade.json': () => {
    // The YES book of the keyset market: the same condition and token; strings for every number.
    const b = json('clob_book_vtrade.json');
    const m = fromGamma(json('gamma_markets-keyset_vtrade.json').markets[0]);
    expect(b.market).toBe(m.conditionId);
    expect(b.asset_id).toBe(m.outcomes[0]!.tokenId);
    expect([b.tick_size, b.min_order_size]).toEqual([m.tickSizeText, m.minOrderSizeText]);
  },
  'clob_book-negrisk_equinox.json': () => {
    const b = json('clob_book-negrisk_equinox.json');
    expect(restHash(b)).toBe(b.hash);
    expect(b.neg_risk).toBe(true);
  },
  'clob_book-tick0001_equinox.json': async () => {
    // The Xi YES book: the hydration check takes the book's texts; the NO token has no book yet.
    const b = json('clob_book-tick0001_equinox.json');
    expect(restHash(b)).toBe(b.hash);
    const xi = fromGamma(json('gamma_market-by-id_gopolymarket.json'));
    expect(b.asset_id).toBe(xi.outcomes[0]!.tokenId);
    const books = new Map<string, unknown>([[b.asset_id, b]]);
    const clob = await standIn((path, _q, body) =>
      path === '/books'
        ? (JSON.parse(body) as { token_id: string }[]).map((x) => books.get(x.token_id)).filter(Boolean)
        : undefined,
    );
    const client = new HttpClient();
    expect(await checkBooks(client, clob.url, [xi], { purpose: 'discovery' })).toEqual({
      ready: [],
      pending: [xi],
      error: null,
    });
    books.set(xi.outcomes[1]!.tokenId, { ...b, asset_id: xi.outcomes[1]!.tokenId, neg_risk: true });
    const r = await checkBooks(client, clob.url, [xi], { purpose: 'discovery' });
    expect(r.pending).toEqual([]);
    expect(r.ready[0]).toMatchObject({ tickSizeText: '0.001', minOrderSizeText: '5', negRisk: false });
  },
  'clob_misc-endpoints_argos.json': async () => {
    // The simulator's CLOB errors are the real bodies.
    const r = json('clob_misc-endpoints_argos.json').responses;
    const s = await sim({ markets: 1 });
    const none = await fetch(`${s.httpUrl}/book?token_id=not-a-real-token`);
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual(r['GET /book?token_id=not-a-real-token (HTTP 404)']);
    const missing = await fetch(`${s.httpUrl}/book`);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual(r['GET /book (token_id omitted, HTTP 400)']);
  },
};

describe('REST fixtures (fixtures/polymarket/rest)', () => {
  it('every fixture has a check', () => {
    const files = readdirSync(REST).filter((f) => f.endsWith('.json'));
    expect(Object.keys(CHECKS).sort()).toEqual(files.sort());
  });
  for (const [name, check] of Object.entries(CHECKS)) it(name, check);
});

/** Keys of `actual` appear in `reference` and in the same relative order. */
function expectKeyOrder(actual: object, reference: readonly string[]): void {
  const keys = Object.keys(actual);
  const missing = keys.filter((k) => !reference.includes(k));
  expect(missing, 'keys the real objects do not have').toEqual([]);
  const positions = keys.map((k) => reference.indexOf(k));
  expect(positions, 'key order').toEqual([...positions].sort((a, b) => a - b));
}

/** Same JSON type for the keys both objects have. */
function expectSameTypes(
  actual: Record<string, unknown>,
  reference: Record<string, unknown>,
  skip: string[] = [],
): void {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  for (const k of Object.keys(actual)) {
    if (!(k in reference) || skip.includes(k)) continue;
    expect([k, kind(actual[k])]).toEqual([k, kind(reference[k])]);
  }
}

describe('simulator REST answers like the real services', () => {
  it('Gamma keyset markets and events: key order, types, JSON-encoded strings, compact bodies ending in a newline', async () => {
    const s = await sim({ markets: 12 });
    const res = await fetch(`${s.httpUrl}/markets/keyset?limit=3&include_tag=true`);
    const body = await res.text();
    expect(body.endsWith('}\n')).toBe(true);
    expect(`${JSON.stringify(JSON.parse(body))}\n`).toBe(body);
    const page = JSON.parse(body);
    const real = json('gamma_markets-keyset_vtrade.json');
    expect(Object.keys(page)).toEqual(Object.keys(real));
    const ref = real.markets[0];
    for (const m of page.markets) {
      expectKeyOrder(m, Object.keys(ref));
      expectSameTypes(m, ref);
      expectKeyOrder(m.events[0], Object.keys(ref.events[0]));
      expectSameTypes(m.events[0], ref.events[0]);
      expect(JSON.parse(m.clobTokenIds)).toHaveLength(2);
      expect(m.outcomes).toMatch(/^\["[^"]+", "[^"]+"\]$/);
      expect(m.tags.length).toBeGreaterThan(0);
    }
    const ev = (await (await fetch(`${s.httpUrl}/events/keyset?limit=50`)).json()).events;
    const realEvent = json('gamma_events-keyset_vtrade.json').events[0];
    const childKeys = [...new Set(realEvent.markets.flatMap((m: object) => Object.keys(m)))] as string[];
    for (const e of ev) {
      expectKeyOrder(e, [
        ...Object.keys(realEvent).slice(0, 30),
        'negRiskMarketID',
        ...Object.keys(realEvent).slice(30),
      ]);
      expectSameTypes(e, realEvent);
      for (const m of e.markets)
        expect(Object.keys(m).every((k) => childKeys.includes(k) || k === 'negRiskMarketID')).toBe(true);
    }
    // Events nest closed members and placeholders, like the Kraken capture.
    const all = ev.flatMap((e: any) => e.markets);
    expect(all.some((m: any) => m.closed && m.umaResolutionStatus === 'resolved')).toBe(true);
    expect(all.some((m: any) => m.active === false && m.clobTokenIds === undefined && m.conditionId === '')).toBe(true);
  });

  it('Gamma keyset pagination: next_cursor sent back as after_cursor, absent on the last page; filters and order', async () => {
    const s = await sim({ markets: 9 });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const u = `${s.httpUrl}/markets/keyset?limit=4&order=volume24hr&ascending=false${cursor ? `&after_cursor=${cursor}` : ''}`;
      const page = await (await fetch(u)).json();
      seen.push(...page.markets.map((m: any) => m.id));
      cursor = page.next_cursor;
      if (cursor === undefined) break;
    }
    const open = s.markets.filter((m) => !m.settled);
    const placeholders = seen.filter((id) => Number(id) >= 900_000);
    expect(seen.filter((id) => Number(id) < 900_000)).toEqual(
      [...open].sort((a, b) => b.volume24h - a.volume24h || Number(a.id) - Number(b.id)).map((m) => m.id),
    );
    expect(new Set(seen).size).toBe(seen.length);
    expect(placeholders.every((id) => seen.indexOf(id) >= open.length)).toBe(true);
    // Filters the code uses; offset is refused on keyset endpoints; a foreign cursor is refused.
    const m = s.markets[2]!;
    const bySlug = await (await fetch(`${s.httpUrl}/markets/keyset?slug=${m.slug}`)).json();
    expect(bySlug.markets.map((x: any) => x.conditionId)).toEqual([m.conditionId]);
    expect(bySlug.next_cursor).toBeUndefined();
    const byToken = await (await fetch(`${s.httpUrl}/markets/keyset?clob_token_ids=${m.no}`)).json();
    expect(byToken.markets.map((x: any) => x.conditionId)).toEqual([m.conditionId]);
    const byCid = await (
      await fetch(
        `${s.httpUrl}/markets/keyset?condition_ids=${m.conditionId}&condition_ids=${s.markets[3]!.conditionId}`,
      )
    ).json();
    expect(byCid.markets).toHaveLength(2);
    const offset = await fetch(`${s.httpUrl}/markets/keyset?offset=10`);
    expect(offset.status).toBe(422);
    expect(await offset.json()).toEqual({
      type: 'validation error',
      error: 'offset is not allowed on keyset endpoints',
    });
    expect((await fetch(`${s.httpUrl}/markets/keyset?after_cursor=bm90LW91cnM`)).status).toBe(422);
    expect((await fetch(`${s.httpUrl}/markets/keyset?order=volume_num`)).status).toBe(422);
    // The offset API: a bare array with the deprecation headers.
    const legacy = await fetch(`${s.httpUrl}/markets?limit=2`);
    expect(legacy.headers.get('deprecation')).toBe('true');
    expect(await legacy.json()).toHaveLength(2);
  });

  it('CLOB /markets, /markets/{id}, /book and POST /books: shapes, limits and errors', async () => {
    const s = await sim({ markets: 4 });
    const page = await (await fetch(`${s.httpUrl}/markets?next_cursor=MA==`)).json();
    expect(Object.keys(page)).toEqual(['data', 'next_cursor', 'limit', 'count']);
    expect(page.next_cursor).toBe('LTE=');
    const ref = json('clob_market_nautilus.json');
    for (const m of page.data) {
      expect(Object.keys(m)).toEqual(Object.keys(ref));
      expectSameTypes(m, ref, ['game_start_time', 'accepting_order_timestamp', 'rewards']);
    }
    const one = await (await fetch(`${s.httpUrl}/markets/${s.markets[1]!.conditionId}`)).json();
    expect(fromClob(one)).toMatchObject({ conditionId: s.markets[1]!.conditionId, source: 'clob' });
    expect(labels(fromClob(one))).toEqual(s.markets[1]!.outcomes);
    const unknown = await fetch(`${s.httpUrl}/markets/0x${'0'.repeat(64)}`);
    expect([unknown.status, await unknown.text()]).toEqual([404, '{"error":"market not found"}\n']);
    // The book: hash key order; the 404 body is the real 59 bytes.
    const book = await fetch(`${s.httpUrl}/book?token_id=${s.tokens[0]}`);
    expect(Object.keys(await book.json())).toEqual(Object.keys(json('clob_book_vtrade.json')));
    const gone = await fetch(`${s.httpUrl}/book?token_id=1`);
    expect(await gone.text()).toBe(readFileSync(join(FIXTURES, 'rest_book_404_settled_token_2026-10-04.json'), 'utf8'));
    // POST /books: unknown ids dropped, order not kept, at most 500, [] gives [], GET is refused.
    const req = [s.tokens[3], 'unknown', s.tokens[0], s.tokens[2]].map((token_id) => ({ token_id }));
    const books = await (await fetch(`${s.httpUrl}/books`, { method: 'POST', body: JSON.stringify(req) })).json();
    expect(books.map((b: any) => b.asset_id).sort()).toEqual([s.tokens[0], s.tokens[2], s.tokens[3]].sort());
    expect(books.map((b: any) => b.asset_id)).not.toEqual([s.tokens[3], s.tokens[0], s.tokens[2]]);
    const many = Array.from({ length: 501 }, (_, i) => ({ token_id: String(i) }));
    const tooMany = await fetch(`${s.httpUrl}/books`, { method: 'POST', body: JSON.stringify(many) });
    expect([tooMany.status, await tooMany.json()]).toEqual([400, { error: 'Payload exceeds the limit' }]);
    expect(await (await fetch(`${s.httpUrl}/books`, { method: 'POST', body: '[]' })).json()).toEqual([]);
    const get = await fetch(`${s.httpUrl}/books?token_ids=${s.tokens[0]}`);
    expect([get.status, await get.json()]).toEqual([400, { error: 'Invalid payload' }]);
  });

  it('a 429 with Retry-After on demand, and 5xx', async () => {
    const s = await sim({ markets: 1 });
    s.failRest({ retryAfterS: 2 });
    const r = await fetch(`${s.httpUrl}/markets/keyset`);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(await r.json()).toMatchObject({ retry_after_seconds: 2 });
    s.failRest({ status: 502, path: '/book' });
    expect((await fetch(`${s.httpUrl}/markets/keyset`)).status).toBe(200);
    const bad = await fetch(`${s.httpUrl}/book?token_id=${s.tokens[0]}`);
    expect(bad.status).toBe(502);
    expect(await bad.text()).toContain('cloudflare');
    expect(s.stats()).toMatchObject({ restRequests: 3, restFailures: 2 });
  });
});

describe('discovery against the simulator', () => {
  it('top N by 24-hour volume and by liquidity, ranked as Gamma reports them', async () => {
    const s = await sim({ markets: 14 });
    const open = s.markets.filter((m) => !m.settled);
    const r = await discover({ top: 5 }, at(s));
    const want = [...open].sort((a, b) => b.volume24h - a.volume24h || (a.conditionId < b.conditionId ? -1 : 1));
    expect(ids(r.markets)).toEqual(want.slice(0, 5).map((m) => m.conditionId));
    expect(r.pending).toEqual([]);
    const liq = await discover({ top: 3, by: 'liquidity' }, at(s));
    expect(ids(liq.markets)).toEqual(
      [...open]
        .sort((a, b) => b.liquidity - a.liquidity)
        .slice(0, 3)
        .map((m) => m.conditionId),
    );
    // Each market: its outcome labels paired with its token ids, the book's texts, the event.
    for (const m of r.markets) {
      const truth = s.markets.find((x) => x.conditionId === m.conditionId)!;
      expect(m.outcomes).toEqual([
        { label: truth.outcomes[0], tokenId: truth.yes },
        { label: truth.outcomes[1], tokenId: truth.no },
      ]);
      expect(m).toMatchObject({
        question: truth.question,
        slug: truth.slug,
        eventSlug: truth.eventSlug,
        tickSizeText: truth.tickSize,
        minOrderSizeText: truth.minOrderSize,
        negRisk: truth.negRisk,
      });
    }
  });

  it('by event slug (closed members and placeholders filtered out), market slug, condition id, token id, tag and text', async () => {
    const s = await sim({ markets: 16, seed: 3 });
    const multi = s.markets.filter((m) => m.eventSlug !== m.slug);
    expect(multi.length).toBeGreaterThan(1);
    const event = multi[0]!.eventSlug;
    const members = s.markets.filter((m) => m.eventSlug === event);
    const bySlug = await discover({ slugs: [event] }, at(s));
    expect(ids(bySlug.markets).sort()).toEqual(members.map((m) => m.conditionId).sort());
    const single = s.markets.find((m) => m.eventSlug === m.slug)!;
    const lone = s.markets.at(-1)!;
    const byMix = await discover(
      {
        slugs: [single.slug],
        markets: [s.markets[1]!.conditionId.toUpperCase().replace('0X', '0x')],
        tokens: [lone.no],
      },
      at(s),
    );
    expect(ids(byMix.markets).sort()).toEqual([single.conditionId, s.markets[1]!.conditionId, lone.conditionId].sort());
    const crypto = await discover({ tag: 'crypto' }, at(s));
    expect(crypto.markets.length).toBeGreaterThan(0);
    expect(crypto.markets.every((m) => m.tags.includes('crypto'))).toBe(true);
    const word = single.question.split(' ').find((w) => w.length > 5)!;
    const found = await discover({ text: word.toLowerCase() }, at(s));
    expect(found.markets.every((m) => `${m.question} ${m.eventTitle}`.toLowerCase().includes(word.toLowerCase()))).toBe(
      true,
    );
    expect(ids(found.markets)).toContain(single.conditionId);
  });

  it('an unknown or closed selection is a DiscoveryError that names it', async () => {
    const s = await sim({ markets: 6 });
    const err = await discover({ slugs: ['no-such-event'], markets: [s.markets[0]!.conditionId] }, at(s)).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(DiscoveryError);
    expect(err.code).toBe('POLYBOOK_DISCOVERY');
    expect(err.message).toMatch(/slug "no-such-event": no open event or market has it/);
    s.settle(s.markets[0]!.conditionId);
    // Gamma lists open markets only; the CLOB says why the settled one cannot be followed.
    const closed = await discover({ markets: [s.markets[0]!.conditionId] }, at(s)).catch((e) => e);
    expect(closed.message).toMatch(new RegExp(`market ${s.markets[0]!.conditionId}: closed`));
    await expect(discover({ tokens: ['123'] }, at(s))).rejects.toThrow(/token 123: no open market has it/);
    await expect(discover({}, at(s))).rejects.toThrow(/at least one of slugs/);
    await expect(discover({ top: 0 }, at(s))).rejects.toThrow(/query\.top/);
  });

  it('a 429 or 5xx while paging is retried (Retry-After honoured), not a failed discovery', async () => {
    const s = await sim({ markets: 30 });
    const slept: number[] = [];
    const client = new HttpClient({
      limits: false,
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    s.failRest({ status: 429, retryAfterS: 3, path: '/markets/keyset' });
    s.failRest({ status: 502, path: '/books' });
    const r = await discover({ top: 25 }, { gammaUrl: s.httpUrl, clobUrl: s.httpUrl, client });
    expect(r.markets.length + r.pending.length).toBe(25);
    expect(slept[0]).toBe(3000);
    expect(s.stats().restFailures).toBe(2);
    expect(client.stats().discovery).toMatchObject({ retries: 2, rateLimited: 1, errors: 0 });
  });

  it('falls back to the CLOB when Gamma is unreachable; the top N needs Gamma', async () => {
    const s = await sim({ markets: 6 });
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const opts = at(s, { gammaUrl: `http://127.0.0.1:${port}` });
    const target = s.markets[2]!;
    const r = await discover(
      { markets: [target.conditionId], slugs: [s.markets[4]!.slug], tokens: [s.markets[5]!.yes] },
      opts,
    );
    expect(ids(r.markets).sort()).toEqual([target, s.markets[4]!, s.markets[5]!].map((m) => m.conditionId).sort());
    expect(r.markets.every((m) => m.source === 'clob')).toBe(true);
    expect(r.warnings[0]).toMatch(/Gamma is unavailable .*refused.*using the CLOB/);
    const err = await discover({ top: 3 }, opts).catch((e) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.failure).toBe('refused');
    // Gamma answering 5xx for good is unavailable too.
    s.failRest({ status: 503, retryAfterS: 0, count: 5, path: '/events/keyset' });
    const tagged = await discover({ tag: 'crypto' }, at(s));
    expect(tagged.warnings[0]).toMatch(/HTTP 503/);
    expect(tagged.markets.every((m) => m.source === 'clob')).toBe(true);
    // A Gamma 4xx is an answer, not an outage: no fallback.
    const g = await standIn(() => undefined);
    await expect(discover({ tag: 'x' }, at(s, { gammaUrl: g.url }))).rejects.toBeInstanceOf(HttpError);
  });

  it('the hydration window: Gamma lists a new market before the CLOB has its book; pending, never an error', async () => {
    const s = await sim({ markets: 6, hydratingMarkets: 1 });
    const fresh = s.markets.at(-1)!;
    expect(fresh.hydrated).toBe(false);
    const r = await discover({ markets: [fresh.conditionId, s.markets[0]!.conditionId] }, at(s));
    expect(ids(r.markets)).toEqual([s.markets[0]!.conditionId]);
    expect(ids(r.pending)).toEqual([fresh.conditionId]);
    // The CLOB has no market and no book for it yet.
    expect((await fetch(`${s.httpUrl}/markets/${fresh.conditionId}`)).status).toBe(404);
    expect((await fetch(`${s.httpUrl}/book?token_id=${fresh.yes}`)).status).toBe(404);
    const client = new HttpClient();
    expect((await checkBooks(client, s.httpUrl, r.pending, { purpose: 'discovery' })).ready).toEqual([]);
    s.hydrate(fresh.conditionId);
    const later = await checkBooks(client, s.httpUrl, r.pending, { purpose: 'discovery' });
    expect(ids(later.ready)).toEqual([fresh.conditionId]);
    expect(later.pending).toEqual([]);
  });
});
