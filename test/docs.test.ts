/**
 * The documents the code cites resolve: every `docs/PROTOCOL.md N.N` and `DESIGN N.N (rule K)` citation
 * in the repository names a section (and rule) that exists, every fixture docs/PROTOCOL.md names is in
 * fixtures/polymarket/ and every fixture there is described, and what docs/PROTOCOL.md says of the REST
 * fixtures holds.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bookHash } from '../src/protocol/hash.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'fixtures', 'polymarket');
const protocolMd = readFileSync(join(ROOT, 'docs', 'PROTOCOL.md'), 'utf8');
const designMd = readFileSync(join(ROOT, 'docs', 'DESIGN.md'), 'utf8');

/** Section numbers of a Markdown document: `## 1.`, `### 2.9`, `#### 4.1.1`. */
function sectionsOf(md: string): Set<string> {
  return new Set([...md.matchAll(/^#{2,4} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]!));
}
const PROTOCOL_SECTIONS = sectionsOf(protocolMd);
const DESIGN_SECTIONS = sectionsOf(designMd);

/** Number of the numbered rules in DESIGN.md section 5.8. */
const DESIGN_RULES = (() => {
  const body = /^### 5\.8 .*\n([\s\S]*?)^#{2,3} /m.exec(designMd)?.[1] ?? '';
  return [...body.matchAll(/^(\d+)\. /gm)].length;
})();

/** Where citations may be: the source, tests, scripts and docs (generated and installed trees skipped). */
const TREES = ['src', 'native', 'docs', 'test', 'scripts', 'bench', 'examples'];
const TOP_FILES = ['README.md', 'CHANGELOG.md'];
const SKIP_DIRS = new Set(['node_modules', 'target', 'dist']);
const TEXT = /\.(ts|mts|cts|js|mjs|cjs|rs|md|toml)$/;
/** This file spells the patterns out. */
const SELF = fileURLToPath(import.meta.url);

function textFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) {
        if (!SKIP_DIRS.has(f)) walk(p);
      } else if (TEXT.test(f) && p !== SELF) out.push(p);
    }
  };
  for (const t of TREES) if (existsSync(join(ROOT, t))) walk(join(ROOT, t));
  for (const f of TOP_FILES) if (existsSync(join(ROOT, f))) out.push(join(ROOT, f));
  return out;
}

interface Citation {
  where: string;
  text: string;
  /** What precedes `PROTOCOL` in the same word (`docs/` when spelled right). */
  prefix: string;
  numbers: string[];
  rules: string[];
}

/** Section numbers after a citation: `2.9`, `section 1`, `sections 2 to 5`, `1.2-1.4`, `§ 2.9`. */
const AFTER =
  /^,?\s+(?:sections?\s+|§\s*)?(\d+(?:\.\d+)*)(?:\s*(?:-|–|to|and)\s*(\d+(?:\.\d+)*))?(?:,?\s+rules?\s+(\d+)(?:\s*(?:-|–|to|and)\s*(\d+))?)?/;

function citations(name: 'PROTOCOL' | 'DESIGN'): Citation[] {
  const out: Citation[] = [];
  const re = new RegExp(`([\\w./-]*)\\b${name}(\\.md)?(?![\\w])`, 'g');
  for (const file of textFiles()) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      // A citation may wrap: read on into the next line.
      const text = `${line} ${lines[i + 1] ?? ''}`;
      for (const m of line.matchAll(re)) {
        const after = AFTER.exec(text.slice(m.index! + m[0].length));
        out.push({
          where: `${relative(ROOT, file)}:${i + 1}`,
          text: m[0] + (after?.[0] ?? ''),
          prefix: m[1]!,
          numbers: after ? [after[1]!, after[2]].filter((x): x is string => x !== undefined) : [],
          rules: after ? [after[3], after[4]].filter((x): x is string => x !== undefined) : [],
        });
      }
    });
  }
  return out;
}

describe('citations resolve', () => {
  it('every docs/PROTOCOL.md citation names the file by its path and a section that exists', () => {
    const cites = citations('PROTOCOL');
    expect(cites.filter((c) => c.numbers.length > 0).length).toBeGreaterThan(20);
    const bad: string[] = [];
    for (const c of cites) {
      // The document itself names its path once, in its introduction.
      if (c.where.startsWith('docs/PROTOCOL.md:') && c.numbers.length === 0) continue;
      if (c.prefix !== 'docs/' || !c.text.startsWith('docs/PROTOCOL.md')) {
        bad.push(`${c.where}: "${c.text}" should cite docs/PROTOCOL.md`);
      }
      for (const n of c.numbers) {
        if (!PROTOCOL_SECTIONS.has(n)) bad.push(`${c.where}: "${c.text}": docs/PROTOCOL.md has no section ${n}`);
      }
    }
    expect(bad, 'fix the citation or the heading').toEqual([]);
  });

  it('every DESIGN citation names a section of docs/DESIGN.md, and a rule of section 5.8 that exists', () => {
    expect(DESIGN_RULES).toBeGreaterThanOrEqual(11);
    const cites = citations('DESIGN').filter((c) => c.numbers.length > 0);
    expect(cites.length).toBeGreaterThan(40);
    const bad: string[] = [];
    for (const c of cites) {
      for (const n of c.numbers) {
        if (!DESIGN_SECTIONS.has(n)) bad.push(`${c.where}: "${c.text}": docs/DESIGN.md has no section ${n}`);
      }
      for (const r of c.rules) {
        // "sections 5.6 and 5.8 rule 8": the rule belongs to the last section named.
        if (c.numbers.at(-1) !== '5.8') bad.push(`${c.where}: "${c.text}": only section 5.8 has numbered rules`);
        else if (!(Number(r) >= 1 && Number(r) <= DESIGN_RULES)) {
          bad.push(`${c.where}: "${c.text}": section 5.8 has rules 1 to ${DESIGN_RULES}`);
        }
      }
    }
    expect(bad, 'fix the citation or the heading').toEqual([]);
  });

  it("docs/PROTOCOL.md's own cross-references name its sections", () => {
    const bad: string[] = [];
    let n = 0;
    // "(2.9)", "(1.4, 1.5, 1.6)", "see 1.6", "2.9 caveat 3": dotted numbers where a section is meant.
    const refs = [
      ...[...protocolMd.matchAll(/\(((?:see )?\d+\.\d+(?:\.\d+)?(?:, \d+\.\d+(?:\.\d+)?)*)\)/g)].map((m) => m[1]!),
      ...[...protocolMd.matchAll(/\bsee (\d+\.\d+(?:\.\d+)?)\b/g)].map((m) => m[1]!),
      ...[...protocolMd.matchAll(/\b(\d+\.\d+(?:\.\d+)?) caveat\b/g)].map((m) => m[1]!),
    ];
    for (const r of refs) {
      for (const s of r.replace(/^see /, '').split(', ')) {
        n++;
        if (!PROTOCOL_SECTIONS.has(s)) bad.push(`docs/PROTOCOL.md refers to ${s}, which is no section`);
      }
    }
    expect(n).toBeGreaterThan(10);
    expect(bad).toEqual([]);
  });

  it('keeps the section numbers the code and the other docs cite', () => {
    // The numbering follows the research reference; these are cited from outside the document.
    for (const s of ['1', '1.2', '1.3', '1.4', '1.5', '1.6', '2', '2.2', '2.4', '2.9', '3.1', '3.2', '3.3', '3.4'])
      expect(PROTOCOL_SECTIONS.has(s), s).toBe(true);
    for (const s of ['4.1.1', '4.1.3', '5']) expect(PROTOCOL_SECTIONS.has(s), s).toBe(true);
  });
});

/** Fixture files (relative to fixtures/polymarket/), including rest/. */
function fixtureFiles(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(FIXTURES)) {
    if (statSync(join(FIXTURES, f)).isDirectory()) {
      for (const g of readdirSync(join(FIXTURES, f))) out.push(`${f}/${g}`);
    } else out.push(f);
  }
  return out.sort();
}

describe('docs/PROTOCOL.md and fixtures/polymarket/', () => {
  /** Fixture names the document mentions: backquoted file names, relative to fixtures/polymarket/. */
  const named = new Set([...protocolMd.matchAll(/`((?:rest\/)?[\w.-]+\.(?:json|txt|md))`/g)].map((m) => m[1]!));

  it('every fixture it names exists', () => {
    expect(named.size).toBeGreaterThan(30);
    const missing = [...named].filter((f) => !existsSync(join(FIXTURES, f)) || !statSync(join(FIXTURES, f)).isFile());
    expect(missing, 'named in docs/PROTOCOL.md but not in fixtures/polymarket/').toEqual([]);
  });

  it('it describes every fixture (section 5)', () => {
    const section5 = protocolMd.slice(protocolMd.indexOf('\n## 5. '));
    const undescribed = fixtureFiles().filter((f) => !section5.includes(`\`${f}\``));
    expect(undescribed, 'add a row to docs/PROTOCOL.md section 5').toEqual([]);
  });
});

const rest = (name: string) => readFileSync(join(FIXTURES, 'rest', name), 'utf8');
type Level = { price: string; size: string };
interface RestBook {
  market: string;
  asset_id: string;
  timestamp: string;
  hash: string;
  bids: Level[];
  asks: Level[];
  min_order_size: string;
  tick_size: string;
  neg_risk: boolean;
  last_trade_price: string;
}

describe('what docs/PROTOCOL.md says of the REST fixtures holds', () => {
  it.each(['clob_book_vtrade.json', 'clob_book-negrisk_equinox.json', 'clob_book-tick0001_equinox.json'])(
    '%s: keys in the hash order, strings and a boolean, worst first, and the hash recipe reproduces it (2.9, 3.1)',
    (name) => {
      const text = rest(name);
      const b = JSON.parse(text) as RestBook;
      expect(text.endsWith('}\n')).toBe(true);
      expect(Object.keys(b)).toEqual([
        'market',
        'asset_id',
        'timestamp',
        'hash',
        'bids',
        'asks',
        'min_order_size',
        'tick_size',
        'neg_risk',
        'last_trade_price',
      ]);
      for (const k of ['timestamp', 'min_order_size', 'tick_size', 'last_trade_price'] as const)
        expect(typeof b[k], k).toBe('string');
      expect(typeof b.neg_risk).toBe('boolean');
      const prices = (side: Level[]) => side.map((l) => Number(l.price));
      const bids = prices(b.bids);
      const asks = prices(b.asks);
      expect(bids).toEqual([...bids].sort((x, y) => x - y));
      expect(asks).toEqual([...asks].sort((x, y) => y - x));
      expect(bids.at(-1)!).toBeLessThan(asks.at(-1)!);
      const pairs = (side: Level[]) => side.map((l) => [l.price, l.size] as const);
      expect(
        bookHash({
          market: b.market,
          assetId: b.asset_id,
          timestamp: b.timestamp,
          bids: pairs(b.bids),
          asks: pairs(b.asks),
          minOrderSize: b.min_order_size,
          tickSize: b.tick_size,
          negRisk: b.neg_risk,
          lastTradePrice: b.last_trade_price,
        }),
      ).toBe(b.hash);
    },
  );

  it('the 404 body of a settled token is 59 bytes of compact JSON (3.1)', () => {
    const body = readFileSync(join(FIXTURES, 'rest_book_404_settled_token_2026-10-04.json'), 'utf8');
    expect(body).toBe('{"error":"No orderbook exists for the requested token id"}\n');
    expect(Buffer.byteLength(body)).toBe(59);
  });

  it('Gamma keyset: clobTokenIds, outcomes and outcomePrices are JSON-encoded strings; next_cursor is opaque (3.4)', () => {
    const page = JSON.parse(rest('gamma_markets-keyset_vtrade.json')) as {
      markets: Record<string, unknown>[];
      next_cursor: unknown;
    };
    expect(typeof page.next_cursor).toBe('string');
    const m = page.markets[0]!;
    for (const k of ['clobTokenIds', 'outcomes', 'outcomePrices']) {
      expect(typeof m[k], k).toBe('string');
      expect(Array.isArray(JSON.parse(m[k] as string)), k).toBe(true);
    }
    expect(typeof m.orderPriceMinTickSize).toBe('number');
    expect(typeof m.orderMinSize).toBe('number');
    expect(typeof m.volume).toBe('string');
    expect(typeof m.volumeNum).toBe('number');
    // The CLOB book of the same market is for its first token (YES).
    const book = JSON.parse(rest('clob_book_vtrade.json')) as RestBook;
    expect(JSON.parse(m.clobTokenIds as string)[0]).toBe(book.asset_id);
    expect(m.conditionId).toBe(book.market);
  });

  it('Gamma events nest every child market, placeholders without clobTokenIds included; event volume is a number (3.4)', () => {
    const page = JSON.parse(rest('gamma_events-keyset_vtrade.json')) as { events: Record<string, unknown>[] };
    const ev = page.events[0]!;
    expect(typeof ev.volume).toBe('number');
    const children = ev.markets as Record<string, unknown>[];
    expect(children.some((c) => c.closed === true)).toBe(true);
    expect(children.some((c) => c.active === true && c.closed === false)).toBe(true);
    expect(children.some((c) => c.active === false && !('clobTokenIds' in c))).toBe(true);
    for (const c of children) expect(typeof c.volume).toBe('string');
  });

  it('closed and acceptingOrders can both be true, on Gamma and on the CLOB (3.4)', () => {
    const g = JSON.parse(rest('gamma_market-closed-accepting_nautilus.json')) as Record<string, unknown>;
    expect([g.closed, g.acceptingOrders]).toEqual([true, true]);
    const c = JSON.parse(rest('clob_market-closed-accepting_nautilus.json')) as Record<string, unknown>;
    expect([c.closed, c.accepting_orders]).toEqual([true, true]);
  });

  it('CLOB /markets: a cursor page of mostly closed markets, with numeric sizes and ticks (3.4)', () => {
    const page = JSON.parse(rest('clob_markets_nautilus.json')) as {
      data: Record<string, unknown>[];
      next_cursor: string;
      limit: number;
      count: number;
    };
    expect(page.next_cursor).toBe('MTAw');
    expect(Buffer.from(page.next_cursor, 'base64').toString()).toBe('100');
    expect([page.limit, page.count, page.data.length]).toEqual([100, 100, 100]);
    expect(page.data.filter((m) => m.closed === true).length).toBe(98);
    for (const m of page.data) {
      expect(typeof m.minimum_order_size).toBe('number');
      expect(typeof m.minimum_tick_size).toBe('number');
    }
  });
});
