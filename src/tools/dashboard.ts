/**
 * The terminal dashboard: renders a cache's health as plain text frames (no dependency), and the
 * one-object-per-second JSON snapshot that `polybook watch --json` prints.
 */
import type { BookCache } from '../cache/book-cache.js';
import { AGE_BUCKETS_MS } from '../table/metrics.js';
import type { AuditStats } from '../audit/stats.js';

/** What `watch --json` prints each second. */
export interface WatchSnapshot {
  time: string;
  ready: number;
  total: number;
  hitRate: number;
  meanAgeMs: number;
  reconnects: number;
  desyncs: number;
  messagesPerSec: number;
  /**
   * Per token: its market's question and its outcome label (null for tokens given by id), and the
   * top of book, tick size, minimum order size, neg risk and last trade price when the book may be
   * served (else null).
   */
  books: Record<
    string,
    {
      question: string | null;
      outcome: string | null;
      bestBid: number | null;
      bestAsk: number | null;
      ageMs: number | null;
      tickSize: string | null;
      minOrderSize: number | null;
      negRisk: boolean | null;
      lastTradePrice: number | null;
    }
  >;
}

/** Reads every token once under `maxStaleMs` (this is what a strategy would do each tick). */
export function snapshot(cache: BookCache, tokens: readonly string[], maxStaleMs: number): WatchSnapshot {
  const books: WatchSnapshot['books'] = {};
  for (const id of tokens) {
    const b = cache.get(id, maxStaleMs);
    const m = cache.market(id);
    books[id] = {
      question: m?.market.question ?? null,
      outcome: m?.outcome ?? null,
      bestBid: b ? b.bestBid : null,
      bestAsk: b ? b.bestAsk : null,
      ageMs: b ? round(b.ageMs, 1) : null,
      tickSize: b ? b.tickSizeText : null,
      minOrderSize: b ? b.minOrderSize : null,
      negRisk: b ? b.negRisk : null,
      lastTradePrice: b?.lastTrade ? b.lastTrade.price : null,
    };
  }
  const s = cache.metrics().summary();
  return {
    time: new Date().toISOString(),
    ready: s.ready,
    total: s.tokens,
    hitRate: round(s.hitRate, 4),
    meanAgeMs: round(s.meanAgeMs, 2),
    reconnects: s.feed?.reconnects ?? 0,
    desyncs: s.desyncs,
    messagesPerSec: round(s.feed?.messagesPerSec ?? 0, 1),
    books,
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

const bar = (fraction: number, width: number): string => {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '█'.repeat(n) + '░'.repeat(width - n);
};

const num = (v: number): string => Math.round(v).toLocaleString('en-US');
/** A level's size: shares trade in hundredths, so a small size keeps its decimals (0.4 is not 0). */
export const levelSize = (v: number): string => v.toLocaleString('en-US', { maximumFractionDigits: v < 1000 ? 2 : 0 });
const short = (id: string): string => (id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id);
/** Cuts `s` to `n` characters (an ellipsis marks the cut) and pads it to `n`. */
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));
const NAME_WIDTH = 46;

/** `Yes · Will Bitcoin reach $100k by June 30?` for a discovered token, else its shortened id. */
export function bookName(cache: BookCache, tokenId: string): string {
  const m = cache.market(tokenId);
  return m ? `${m.outcome} · ${m.market.question}` : short(tokenId);
}
const px = (v: number | null | undefined): string =>
  v === null || v === undefined || Number.isNaN(v) ? '    –' : v.toFixed(3);

/** Renders the warmup progress line. */
export function renderWarmup(source: string, ready: number, total: number, elapsedMs: number): string {
  const f = total === 0 ? 1 : ready / total;
  return [
    `polybook  ${source}`,
    '',
    `Warming up  ${bar(f, 40)}  ${ready}/${total} ready (${(f * 100).toFixed(1)}%)  ${(elapsedMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

/** Renders one dashboard frame. `busiest` lists tokens to show top of book for. */
export function renderDashboard(
  cache: BookCache,
  source: string,
  startedAt: number,
  maxStaleMs: number,
  busiest: readonly string[],
): string {
  const m = cache.metrics();
  const s = m.summary();
  const f = s.feed;
  const upS = (performance.now() - startedAt) / 1000;
  const readyF = s.tokens === 0 ? 0 : s.ready / s.tokens;
  const lines: string[] = [];
  lines.push(
    `polybook  ${source}  backend ${cache.store.backend}${cache.worker ? ' (worker)' : ''}  up ${upS.toFixed(0)} s   Ctrl-C to quit`,
  );
  lines.push('');
  lines.push(
    `Ready      ${bar(readyF, 30)} ${s.ready}/${s.tokens} (${(readyF * 100).toFixed(1)}%)  trading ${s.tradingEnabled ? 'on' : 'gated'}`,
  );
  lines.push(
    `Reads      hit rate ${(s.hitRate * 100).toFixed(2)}%  mean age ${s.meanAgeMs.toFixed(1)} ms  reads ${num(s.reads)}  (maxStale ${maxStaleMs} ms)`,
  );
  const misses = Object.entries(s.missesByReason)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${num(v)}`)
    .join('  ');
  lines.push(`Misses     ${misses || 'none'}`);
  if (f) {
    lines.push(
      `Feed       ${f.open}/${f.connections} connections open  ${num(f.messagesPerSec)} msg/s  ${(f.bytesPerSec / 1024).toFixed(0)} KiB/s  ` +
        `pong ${Number.isNaN(f.lastPongLatencyMs) ? '–' : `${f.lastPongLatencyMs.toFixed(1)} ms`}`,
    );
    lines.push(
      `Health     reconnects ${f.reconnects}  stalls ${f.stalls}  desyncs ${s.desyncs}  crossed resets ${s.crossedResets}  resubscriptions ${f.resubscriptions}  gaps ${s.gaps}  malformed ${s.malformed}  ${auditText(m.audit)}`,
    );
  }
  lines.push('');
  lines.push('Served age');
  const total = m.store.hits || 1;
  m.store.ageHistogram.forEach((b, i) => {
    const label = b.le === Infinity ? `> ${AGE_BUCKETS_MS[AGE_BUCKETS_MS.length - 1]} ms` : `≤ ${b.le} ms`;
    lines.push(
      `  ${label.padStart(10)}  ${bar(b.count / total, 30)} ${((b.count / total) * 100).toFixed(1).padStart(5)}%`,
    );
    void i;
  });
  lines.push('');
  lines.push(`${clip('Busiest books', NAME_WIDTH + 2)}  bid (size)            ask (size)          age     updates`);
  for (const id of busiest) {
    const b = cache.get(id, maxStaleMs);
    const st = cache.store.state(id);
    const bid = b?.bids[0];
    const ask = b?.asks[0];
    lines.push(
      `  ${clip(bookName(cache, id), NAME_WIDTH)}  ${px(bid?.price)} (${(bid ? levelSize(bid.size) : '–').padStart(8)})  ${px(ask?.price)} (${(ask ? levelSize(ask.size) : '–').padStart(8)})  ` +
        `${b ? `${b.ageMs.toFixed(0).padStart(4)} ms` : ' skip  '}  ${num(st?.updates ?? 0).padStart(8)}`,
    );
  }
  return lines.join('\n');
}

/** The auditor's part of the Health line. */
export function auditText(a: AuditStats): string {
  if (!a.enabled) return 'audit off';
  const oldest = a.connections.reduce((x, c) => Math.max(x, c.cleanAgeMs), 0);
  const secs = (ms: number): string => (Number.isNaN(ms) ? '–' : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`);
  return (
    `audit ${num(a.tokensAudited)} checked, ${a.freezes} frozen, ${a.divergences} diverged, ${a.quarantines} quarantined, ` +
    `${a.failures} failed; pass ${secs(a.coveragePeriodMs)}, oldest clean ${secs(a.connections.length ? oldest : NaN)}`
  );
}

/** The `n` tokens with the most applied updates. */
export function busiestTokens(cache: BookCache, tokens: readonly string[], n: number): string[] {
  return tokens
    .map((id) => [id, cache.store.state(id)?.updates ?? 0] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([id]) => id);
}
