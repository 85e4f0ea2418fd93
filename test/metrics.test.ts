/**
 * Metrics where operators look (docs/METRICS.md): the definitions and their naming rules, the
 * worker's stats block derived from them, the generated docs table, `GET /metrics` scraped over
 * loopback and parsed by a real Prometheus text parser, `GET /healthz` through a feed outage and
 * its recovery, the prom-client bridge and the OpenTelemetry instruments (the SDK's in-memory
 * exporter), all on both backends.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { Registry, register as defaultRegister } from 'prom-client';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BookCache, type BookCacheOptions } from '../src/cache/book-cache.js';
import { CACHE_COUNTERS, METRIC_FAMILIES } from '../src/cache/metrics.js';
import { PROMETHEUS_CONTENT_TYPE } from '../src/cache/prometheus.js';
import { HEALTH_REASONS, type CacheHealth } from '../src/cache/health.js';
import { registerPrometheus } from '../src/cache/prom-client.js';
import { registerOpenTelemetry } from '../src/cache/otel.js';
import { FEED_STATS, FEED_STAT_KEYS, STATS_WORDS, readStats, writeStats, type FeedStats } from '../src/feed/stats.js';
import { QUEUE_WORDS, Q_HANDLED, Q_OPS_APPLIED, Q_OPS_POSTED, Q_POSTED } from '../src/feed/worker-protocol.js';
import { ConfigError, MetricsConflictError, MetricsListenError, PolybookError } from '../src/errors.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import type { BackendName } from '../src/backend/index.js';
import type { FeedOptions } from '../src/feed/options.js';
import { BACKENDS, FAST_FEED, waitFor } from './helpers.js';
import { METRICS_DOC, withTables } from '../scripts/metrics-doc.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Nothing listens here: a cache pointed at it never warms up. */
const NOWHERE = 'ws://127.0.0.1:9/ws/market';

async function sim(options: Parameters<typeof startSimulator>[0]): Promise<Simulator> {
  const s = await startSimulator(options);
  cleanups.push(() => s.close());
  return s;
}

async function cache(
  s: Simulator | null,
  backend: BackendName,
  extra: Omit<BookCacheOptions, 'feed'> & { feed?: FeedOptions } = {},
): Promise<BookCache> {
  const c = await BookCache.start({
    backend,
    url: s?.url ?? NOWHERE,
    universe: s?.tokens ?? ['1'],
    warmupMinReadyFraction: 1,
    ...extra,
    feed: { ...FAST_FEED, ...extra.feed },
  });
  cleanups.push(() => c.stop());
  return c;
}

/** The exposition parsed by a Prometheus text parser, by family name. */
function parse(text: string): Map<string, ParsedFamily> {
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

/** The value of an unlabelled (or `labels`-matching) sample of a counter or gauge. */
function value(p: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const f = p.get(name);
  if (!f) throw new Error(`no family ${name} in the exposition`);
  const s = f.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels));
  if (!s?.value) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return Number(s.value);
}

/** Every family as comparable data: name, type, help, and the samples as numbers. */
function normalized(p: Map<string, ParsedFamily>): unknown[] {
  return [...p.values()]
    .map((f) => ({
      name: f.name,
      type: f.type,
      help: f.help,
      metrics: f.metrics.map((m) => ({
        labels: m.labels ?? {},
        ...(m.value !== undefined ? { value: Number(m.value) } : {}),
        ...(m.buckets
          ? { buckets: Object.fromEntries(Object.entries(m.buckets).map(([k, v]) => [k, Number(v)])) }
          : {}),
        ...(m.sum !== undefined ? { sum: Number(m.sum), count: Number(m.count) } : {}),
      })),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; type: string | null; body: string }> {
  const r = await fetch(url, init);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}

async function health(url: string): Promise<{ status: number; body: CacheHealth }> {
  const r = await get(`${url}/healthz`);
  expect(r.type).toBe('application/json; charset=utf-8');
  return { status: r.status, body: JSON.parse(r.body) as CacheHealth };
}

/** Polls an asynchronous condition (an HTTP answer) until it holds, bounded. */
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until nothing moves any more: two expositions one feed health interval apart are equal. */
async function quiescent(c: BookCache): Promise<string> {
  let last = '';
  await waitFor(
    () => {
      const t = c.prometheus();
      const same = t === last;
      last = t;
      return same;
    },
    'no metric moving',
    10_000,
    150,
  );
  return last;
}

/** A feed that sends nothing by itself after warmup: no PING for ten minutes, no probes. */
const STILL_FEED: FeedOptions = { confirmIntervalMs: 600_000, silenceTimeoutMs: 0 };

describe('metric definitions', () => {
  it('define each metric once, with a conventional name, kind and unit', () => {
    const names = METRIC_FAMILIES.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const f of METRIC_FAMILIES) {
      expect(f.name, f.name).toMatch(/^polybook_[a-z0-9_]+$/);
      expect(f.help.length, f.name).toBeGreaterThan(10);
      if (f.kind === 'counter') expect(f.name).toMatch(/_total$/);
      else expect(f.name).not.toMatch(/_total$/);
      // Rates are left to rate(); units are base units named in the metric.
      expect(f.name).not.toMatch(/per_second|_ms$|_ms_|millis|_kb|_kib/);
      if (f.unit === 'seconds') expect(f.name).toMatch(/_seconds(_total)?$/);
      if (f.unit === 'bytes') expect(f.name).toMatch(/_bytes(_total)?$/);
      if (f.unit === null) expect(f.name).not.toMatch(/_seconds|_bytes/);
      // OpenTelemetry exports the histogram as <name>_bucket/_sum/_count: no other metric may end so.
      if (f.kind !== 'histogram') expect(f.name).not.toMatch(/_(bucket|sum|count)$/);
      for (const l of Object.keys(f.labels)) expect(l).toMatch(/^[a-z_]+$/);
    }
    for (const n of names)
      expect(names.filter((m) => m.startsWith(`${n}_`) && /_(bucket|sum|count)$/.test(m))).toEqual([]);
  });

  it('export every field of FeedStats and CacheCounters except the dashboard rates', () => {
    const names = new Set(METRIC_FAMILIES.map((f) => f.name));
    const fields = { ...FEED_STATS, ...CACHE_COUNTERS };
    const unexported = Object.entries(fields)
      .filter(([, d]) => d.name === null)
      .map(([k]) => k);
    expect(unexported.sort()).toEqual(['bytesPerSec', 'messagesPerSec']);
    for (const d of Object.values(fields)) if (d.name !== null) expect(names.has(d.name), d.name).toBe(true);
  });

  it("carry every FeedStats field through worker mode's shared stats block", () => {
    const block = new Float64Array(STATS_WORDS);
    const stats = Object.fromEntries(FEED_STAT_KEYS.map((k, i) => [k, 1000 + i * 1.5])) as FeedStats;
    stats.lastPongLatencyMs = NaN;
    writeStats(block, stats);
    writeStats(block, stats);
    expect(block[STATS_WORDS - 1]).toBe(2); // the write count
    // The queue gauges are read from the shared queue counters, not from the block.
    const queue = new Int32Array(QUEUE_WORDS);
    queue[Q_POSTED] = 7;
    queue[Q_HANDLED] = 4;
    queue[Q_OPS_POSTED] = 5;
    queue[Q_OPS_APPLIED] = 5;
    expect(readStats(block, queue)).toEqual({ ...stats, workerQueued: 3, workerOpsQueued: 0 });
    expect(Object.keys(readStats(block)).sort()).toEqual(Object.keys(FEED_STATS).sort());
  });

  it('docs/METRICS.md shows the tables generated from the definitions', () => {
    const doc = readFileSync(METRICS_DOC, 'utf8');
    expect(doc, 'docs/METRICS.md is out of date: run `npx tsx scripts/metrics-doc.ts`').toBe(withTables(doc));
    for (const f of METRIC_FAMILIES) expect(doc).toContain(`| \`${f.name}\` | ${f.kind} |`);
    for (const r of Object.keys(HEALTH_REASONS)) expect(doc).toContain(`| \`${r}\` |`);
  });
});

describe.each(BACKENDS)('the HTTP endpoint (%s)', (backend) => {
  it('GET /metrics over loopback parses as Prometheus text and agrees with metrics().summary()', async () => {
    const s = await sim({ markets: 3, seed: 61, rate: 200 });
    const c = await cache(s, backend);
    await c.warmup();
    for (let i = 0; i < 20; i++) c.get(s.tokens[i % s.tokens.length]);
    c.get('not-a-token');
    const server = await c.serveMetrics({ port: 0 });
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    await waitFor(() => (c.metrics().feed?.messages ?? 0) > 20, 'frames flowing');

    const before = c.metrics().summary();
    const r = await get(`${server.url}/metrics`);
    const after = c.metrics().summary();
    expect(r.status).toBe(200);
    expect(r.type).toBe(PROMETHEUS_CONTENT_TYPE);
    const p = parse(r.body);

    // Every definition, with its type and help, and nothing else.
    expect([...p.keys()].sort()).toEqual(METRIC_FAMILIES.map((f) => f.name).sort());
    for (const f of METRIC_FAMILIES) {
      expect(p.get(f.name)!.type, f.name).toBe(f.kind.toUpperCase());
      expect(p.get(f.name)!.help, f.name).toBe(f.help);
    }
    // Nothing reads between the two summaries: read figures are exact.
    expect(after.reads).toBe(before.reads);
    expect(value(p, 'polybook_reads_total', { result: 'hit' })).toBe(before.hits);
    expect(before.hits).toBe(20);
    for (const [reason, n] of Object.entries(before.missesByReason)) {
      expect(value(p, 'polybook_reads_total', { result: reason }), reason).toBe(n);
    }
    const age = p.get('polybook_served_age_seconds')!.metrics[0];
    expect(Number(age.count)).toBe(before.hits);
    expect(Number(age.buckets!['+Inf'])).toBe(before.hits);
    expect(Number(age.sum) * 1000).toBeCloseTo(before.meanAgeMs * before.hits, 6);
    // Gauges and counters that do not move here are exact.
    expect(value(p, 'polybook_tokens')).toBe(before.tokens);
    expect(value(p, 'polybook_ready_tokens')).toBe(before.ready);
    expect(value(p, 'polybook_enabled')).toBe(1);
    expect(value(p, 'polybook_trading_enabled')).toBe(1);
    expect(value(p, 'polybook_ws_connections')).toBe(before.feed!.connections);
    expect(value(p, 'polybook_ws_open_connections')).toBe(before.feed!.open);
    expect(value(p, 'polybook_ws_tokens')).toBe(before.feed!.tokens);
    expect(value(p, 'polybook_warmup_ready_fraction')).toBe(before.warmup!.fraction);
    expect(value(p, 'polybook_warmup_disabled_tokens')).toBe(before.warmup!.disabled.length);
    expect(value(p, 'polybook_warmup_duration_seconds')).toBe(before.warmup!.elapsedMs / 1000);
    expect(value(p, 'polybook_rest_calls_total')).toBe(before.restCalls);
    // Counters the feed moves meanwhile lie between the two summaries.
    const between = (name: string, a: number, b: number) => {
      const v = value(p, name);
      expect(v, name).toBeGreaterThanOrEqual(a);
      expect(v, name).toBeLessThanOrEqual(b);
    };
    between('polybook_writer_frames_total', before.frames, after.frames);
    between('polybook_writer_snapshots_applied_total', before.snapshots, after.snapshots);
    between('polybook_writer_deltas_applied_total', before.deltas, after.deltas);
    between('polybook_writer_desyncs_total', before.desyncs, after.desyncs);
    between('polybook_writer_crossed_resets_total', before.crossedResets, after.crossedResets);
    between('polybook_ws_messages_total', before.feed!.messages, after.feed!.messages);
    between('polybook_ws_received_bytes_total', before.feed!.bytes, after.feed!.bytes);
    between('polybook_ws_reconnects_total', before.feed!.reconnects, after.feed!.reconnects);
    between('polybook_ws_pongs_total', before.feed!.pongs, after.feed!.pongs);
    between(
      'polybook_ws_pong_latency_seconds_total',
      before.feed!.pongLatencySumMs / 1000,
      after.feed!.pongLatencySumMs / 1000,
    );
    expect(value(p, 'polybook_writer_frames_total')).toBeGreaterThan(0);
    expect(r.body).not.toMatch(/per_second/);

    // HEAD, the index, unknown paths and methods.
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await get(`${server.url}/`)).body).toMatch(/GET \/metrics.*\nGET \/healthz/);
    expect((await get(`${server.url}/metrics?x=1`)).status).toBe(200);
    expect((await get(`${server.url}/nope`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();
  });

  // In-thread, two connections and one dropped: `connection_down`. In a worker, the only
  // connection stalled (caught by the silence watchdog): `no_open_connection`.
  for (const mode of [
    { worker: false, fault: 'drop' as const, connections: 2, reason: 'connection_down' as const },
    { worker: true, fault: 'stall' as const, connections: 1, reason: 'no_open_connection' as const },
  ]) {
    it(`GET /healthz answers 503 while the feed is down (${mode.fault}${mode.worker ? ', worker mode' : ''}) and 200 after recovery`, async () => {
      const s = await sim({ markets: 2, seed: 62, rate: 50 });
      // A long reconnect delay keeps the outage visible.
      const c = await cache(s, backend, {
        worker: mode.worker,
        hardStaleMs: 600,
        defaultMaxStaleMs: 600,
        feed: {
          backoff: { minMs: 2500, maxMs: 2500, jitter: 0 },
          silenceTimeoutMs: 300,
          stallFactor: 0,
          maxTokensPerConnection: 4 / mode.connections,
        },
      });
      const server = await c.serveMetrics({ port: 0 });
      await c.warmup();
      await until(async () => (await health(server.url)).status === 200, 'healthy after warmup');
      const ok = await health(server.url);
      expect(ok.body).toMatchObject({ ok: true, reason: null, tradingEnabled: true, tokens: 4, readyTokens: 4 });
      expect(ok.body).toMatchObject({ connections: mode.connections, openConnections: mode.connections });

      s.inject(mode.fault, { tokenId: s.tokens[0] });
      await until(async () => (await health(server.url)).status === 503, 'a 503 after the fault');
      const down = await health(server.url);
      const open = mode.connections - 1;
      expect(down.body).toMatchObject({
        ok: false,
        reason: mode.reason,
        connections: mode.connections,
        openConnections: open,
      });
      expect(down.body.message.startsWith(HEALTH_REASONS[mode.reason])).toBe(true);
      // /metrics keeps answering during the outage.
      expect(value(parse((await get(`${server.url}/metrics`)).body), 'polybook_ws_open_connections')).toBe(open);

      if (mode.fault === 'stall') s.heal();
      await until(async () => (await health(server.url)).status === 200, 'healthy again after the reconnect');
      const again = await health(server.url);
      expect(again.body).toMatchObject({ ok: true, reason: null, openConnections: mode.connections });
      expect(c.metrics().feed!.reconnects).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('health reasons and the server handle', () => {
  it('disabled, warming up and stopped are 503 with their reason', async () => {
    const off = await cache(null, 'js', { enabled: false });
    const a = await off.serveMetrics({ port: 0 });
    expect(await health(a.url)).toMatchObject({ status: 503, body: { ok: false, reason: 'disabled' } });
    const text = (await get(`${a.url}/metrics`)).body;
    expect(value(parse(text), 'polybook_enabled')).toBe(0);
    // No feed: its families are declared without samples.
    expect(parse(text).get('polybook_ws_connections')!.metrics).toEqual([]);

    const warming = await cache(null, 'js', { warmupTimeoutMs: 600_000 });
    const b = await warming.serveMetrics({ port: 0 });
    const w = await health(b.url);
    expect(w).toMatchObject({ status: 503, body: { ok: false, reason: 'warming_up', tradingEnabled: false } });
    expect(w.body.message).toBe(`${HEALTH_REASONS.warming_up} (0/1 tokens ready, 0/1 connections open)`);

    await warming.stop();
    expect(warming.health()).toMatchObject({ ok: false, reason: 'stopped' });
    // stop() closed the server it started.
    await expect(fetch(`${b.url}/healthz`)).rejects.toThrow();
    await expect(warming.serveMetrics({ port: 0 })).rejects.toThrow(/after the cache was stopped/);
  });

  it('binds loopback by default; typed errors for a bad port or host; close() and await using', async () => {
    const c = await cache(null, 'js', { warmupTimeoutMs: 600_000 });
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => busy.close(() => r())));
    const taken = (busy.address() as { port: number }).port;
    const inUse = await c.serveMetrics({ port: taken }).catch((e: unknown) => e);
    expect(inUse).toBeInstanceOf(MetricsListenError);
    expect(inUse).toBeInstanceOf(PolybookError);
    expect(inUse).toMatchObject({ code: 'POLYBOOK_METRICS_LISTEN', host: '127.0.0.1', port: taken });
    expect((inUse as Error).message).toBe(
      `polybook: cannot serve metrics on 127.0.0.1:${taken}: the port is in use; choose another port (0 picks a free one)`,
    );
    for (const port of [-1, 65536, 1.5, Number.NaN, '80' as unknown as number, undefined as unknown as number]) {
      await expect(c.serveMetrics({ port }), String(port)).rejects.toBeInstanceOf(ConfigError);
    }
    await expect(c.serveMetrics({ port: 0, host: '' })).rejects.toMatchObject({ code: 'POLYBOOK_CONFIG' });
    await expect(c.serveMetrics({ port: 0, host: '192.0.2.1' })).rejects.toMatchObject({
      code: 'POLYBOOK_METRICS_LISTEN',
    });

    const v6 = await c.serveMetrics({ port: 0, host: '::1' }).catch(() => null);
    if (v6) {
      expect(v6.url).toBe(`http://[::1]:${v6.port}`);
      expect((await get(`${v6.url}/healthz`)).status).toBe(503);
      await v6.close();
    }

    let url = '';
    {
      await using s = await c.serveMetrics({ port: 0 });
      url = s.url;
      expect((await get(`${url}/metrics`)).status).toBe(200);
    }
    await expect(fetch(`${url}/metrics`)).rejects.toThrow();
    const again = await c.serveMetrics({ port: 0 });
    await again.close();
    await again.close(); // idempotent
  });
});

describe.each(BACKENDS)('the bridges (%s)', (backend) => {
  it('prom-client: collectors in a registry report what the text exposition reports', async () => {
    const s = await sim({ markets: 2, seed: 63, rate: 200 });
    const c = await cache(s, backend);
    await c.warmup();
    for (let i = 0; i < 7; i++) c.get(s.tokens[0]);
    c.get('not-a-token');
    await waitFor(() => (c.metrics().feed?.messages ?? 0) > 10, 'frames flowing');

    const registry = new Registry();
    const bridge = await registerPrometheus(c, registry);
    expect(bridge.names).toEqual(METRIC_FAMILIES.map((f) => f.name));
    // Read in the same turn of the event loop: no frame can arrive in between.
    const text = c.prometheus();
    const scraped = registry.metrics();
    expect(normalized(parse(await scraped))).toEqual(normalized(parse(text)));
    expect(value(parse(await registry.metrics()), 'polybook_reads_total', { result: 'hit' })).toBe(7);

    // The values are read at each scrape.
    c.get(s.tokens[1]);
    expect(value(parse(await registry.metrics()), 'polybook_reads_total', { result: 'hit' })).toBe(8);
    const json = await registry.getMetricsAsJSON();
    expect(json.find((m) => m.name === 'polybook_ws_reconnects_total')).toMatchObject({ type: 'counter' });

    // A second bridge on the same registry is refused before anything is registered.
    const other = await registerPrometheus(c, registry).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(MetricsConflictError);
    expect(other).toMatchObject({ code: 'POLYBOOK_METRICS_CONFLICT', metric: 'polybook_reads_total' });
    bridge.unregister();
    bridge.unregister();
    expect(await registry.metrics()).not.toMatch(/polybook_/);

    // Without a registry: prom-client's default one.
    const viaDefault = await registerPrometheus(c);
    cleanups.push(() => viaDefault.unregister());
    expect(viaDefault.registry).toBe(defaultRegister);
    expect(value(parse(await defaultRegister.metrics()), 'polybook_reads_total', { result: 'hit' })).toBe(8);
  });

  it('OpenTelemetry: observable instruments report the values, names and units of the text exposition', async () => {
    const s = await sim({ markets: 2, seed: 64, rate: 0 });
    const c = await cache(s, backend, { feed: STILL_FEED });
    await c.warmup();
    for (let i = 0; i < 5; i++) c.get(s.tokens[i % 4]);
    c.get('not-a-token');
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    cleanups.push(() => provider.shutdown());
    const bridge = await registerOpenTelemetry(c, { meter: provider.getMeter('polybook-test') });

    const text = await quiescent(c);
    await reader.forceFlush();
    expect(c.prometheus()).toBe(text);
    const exported = new Map<string, MetricData>();
    for (const rm of exporter.getMetrics())
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) exported.set(m.descriptor.name, m);
    const p = parse(text);
    // A family without samples (the auditor's per-connection gauge while it is off) exports nothing.
    const empty = new Set(METRIC_FAMILIES.filter((f) => p.get(f.name)!.metrics.length === 0).map((f) => f.name));
    expect(empty).toEqual(new Set(['polybook_audit_clean_age_seconds']));
    expect([...exported.keys()].sort()).toEqual([...bridge.names].filter((n) => !empty.has(n)).sort());

    const byLabels = (a: { labels: object }, b: { labels: object }) =>
      JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1;
    const points = (name: string) =>
      exported
        .get(name)!
        .dataPoints.map((d) => ({ labels: d.attributes as Record<string, string>, value: d.value as number }))
        .sort(byLabels);
    for (const f of METRIC_FAMILIES) {
      const parsed = p.get(f.name)!;
      if (empty.has(f.name)) continue;
      if (f.kind === 'histogram') {
        const h = parsed.metrics[0];
        expect(points(`${f.name}_bucket`)).toEqual(
          Object.entries(h.buckets!)
            .map(([le, n]) => ({ labels: { le }, value: Number(n) }))
            .sort(byLabels),
        );
        expect(points(`${f.name}_sum`)).toEqual([{ labels: {}, value: Number(h.sum) }]);
        expect(points(`${f.name}_count`)).toEqual([{ labels: {}, value: Number(h.count) }]);
        expect(exported.get(`${f.name}_sum`)!.descriptor.unit).toBe('s');
        expect(exported.get(`${f.name}_bucket`)!.dataPointType).toBe(DataPointType.SUM);
        continue;
      }
      const m = exported.get(f.name)!;
      expect(m.descriptor.description, f.name).toBe(f.help);
      expect(m.descriptor.unit, f.name).toBe(f.unit === 'seconds' ? 's' : f.unit === 'bytes' ? 'By' : '');
      expect(m.dataPointType, f.name).toBe(f.kind === 'counter' ? DataPointType.SUM : DataPointType.GAUGE);
      if (f.kind === 'counter') expect((m as { isMonotonic?: boolean }).isMonotonic, f.name).toBe(true);
      expect(points(f.name), f.name).toEqual(
        parsed.metrics.map((x) => ({ labels: x.labels ?? {}, value: Number(x.value) })).sort(byLabels),
      );
    }
    expect(points('polybook_reads_total').find((d) => d.labels.result === 'hit')!.value).toBe(5);

    // Unregistered: the cache is no longer read (the SDK may repeat the last observations).
    bridge.unregister();
    c.get(s.tokens[0]);
    exporter.reset();
    await reader.forceFlush();
    const after = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    const hits = after
      .filter((m) => m.descriptor.name === 'polybook_reads_total')
      .flatMap((m) => m.dataPoints.filter((d) => d.attributes.result === 'hit').map((d) => d.value));
    expect(hits).not.toContain(6);
  });
});
