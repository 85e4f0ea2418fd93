/**
 * The `polybook` command. Exit codes: 0 done, 1 runtime failure (port in use, unreadable
 * recording, never connected), 2 usage error (bad command or flag).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BookCache } from '../cache/book-cache.js';
import { BookServer } from '../server/server.js';
import { checkName } from '../server/memory.js';
import { startSimulator, FAULT_NAMES, type FaultName, type Simulator } from '../simulator/index.js';
import { renderDashboard, renderWarmup, snapshot, busiestTokens } from './dashboard.js';
import { Recorder, RecordingError, readRecording, replay } from './recording.js';
import { BookStore } from '../table/store.js';
import type { BackendName } from '../backend/index.js';
import { SubscriptionManager } from '../feed/index.js';
import { ConfigError, DiscoveryError, PolybookError } from '../errors.js';
import { DEFAULT_METRICS_HOST } from '../cache/metrics-server.js';
import { DEFAULT_WS_URL } from '../feed/options.js';
import { resolveUniverse, type UniverseSpec } from '../cache/universe.js';
import { ENV_VARS } from '../cache/env.js';
import { checkHttpUrl, readEnv } from '../config.js';
import { restUrlsFor } from '../rest/urls.js';
import { MAX_TOP, RANK_BY, type MarketQuery, type RankBy } from '../discovery/queries.js';

/** A usage error: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

const EXIT_OK = 0;
const EXIT_FAIL = 1;
const EXIT_USAGE = 2;

type Out = { out: (s: string) => void; err: (s: string) => void; isTTY: boolean };

const SELECTION_HELP = `  --slug S,...      event or market slugs (the part after /event/ in a polymarket.com URL)
  --market ID,...   condition ids
  --top N           the N markets with the most 24-hour volume (or --by liquidity); with --tag, of that tag
  --tag T           the markets of a tag (crypto, politics, sports...)
  --by B            volume24h (default) or liquidity
  --tokens ID,...   token ids
                    Live, without a selection: --top 20. On the simulator: every market.
  --gamma-url URL   Gamma API (default: ${ENV_VARS.gammaUrl}, else Polymarket's, or the simulator's)
  --clob-url URL    CLOB REST API (default: ${ENV_VARS.clobUrl}, else as for Gamma)`;

const HELP: Record<string, string> = {
  main: `polybook: live, verified Polymarket order books

Usage: polybook [command] [options]

Commands:
  watch      live dashboard (the default command), or one JSON object per second with --json
  serve      run a book server: one feed whose books other processes read (watch --attach, BookCache.connect)
  simulate   run the built-in Polymarket-compatible exchange on loopback
  record     write every raw frame with its receive time to a compressed file
  replay     feed a recording through the same ingest path; print books and counters
  bench      run the benchmark suite (native and pure TS side by side)

Run 'polybook <command> --help' for its options. With no command, 'polybook' runs 'polybook watch'
on the built-in simulator.

Exit codes: 0 done, 1 runtime failure, 2 usage error.`,
  watch: `Usage: polybook watch [--live | --url URL] [--slug S | --market ID | --top N | --tokens ID,...] [--duration S] [--json]
                     [--metrics-port P [--metrics-host H]]
       polybook watch --attach NAME [--duration S] [--json] [--metrics-port P]

Runs a cache and shows its health. Without --live or --url it starts the built-in simulator.
With --attach it opens no feed: it shows the books of the book server NAME ('polybook serve').

Options:
  --attach NAME     read the books of a running 'polybook serve --name NAME' (no selection options)
  --live            Polymarket's real endpoint (${DEFAULT_WS_URL})
  --url URL         another market-channel endpoint (its origin serves the REST APIs, unless set below)
${SELECTION_HELP}
  --markets N       simulator markets (default 200, i.e. 400 tokens)
  --rate R          simulator price changes per second (default 400)
  --seed S          simulator seed (default 1)
  --duration S      stop after S seconds (default: until Ctrl-C)
  --max-stale MS    staleness for reads (default POLYBOOK_DEFAULT_MAX_STALE_MS or 1500)
  --backend B       native or js (default: native when it loads)
  --worker          ingest in a worker thread
  --json            print one JSON object per second on stdout instead of the dashboard
  --metrics-port P  serve GET /metrics (Prometheus text) and GET /healthz (200, or 503 with a
                    JSON reason) on port P (0 picks a free one; the URL is printed on stderr)
  --metrics-host H  address for --metrics-port (default ${DEFAULT_METRICS_HOST}, loopback only);
                    another address exposes the endpoints to the network: your decision

Examples:
  polybook
  polybook watch --markets 1000 --duration 30
  polybook watch --json --duration 5 | jq .hitRate
  polybook watch --metrics-port 9464
  polybook watch --live                                   # the 20 markets with the most 24-hour volume
  polybook watch --live --slug fed-decision-in-december --top 5
  polybook watch --live --market 0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917`,
  serve: `Usage: polybook serve --name NAME [--live | --url URL] [--slug S | --market ID | --top N | --tokens ID,...]
                     [--worker] [--backend B] [--capacity N] [--state FILE | --no-state] [--metrics-port P]

Runs a book server: one feed (and warmup) whose books strategies in other processes of this machine
read from shared memory, at in-process speed: 'polybook watch --attach NAME', BookCache.connect(NAME),
BookStore.attach(NAME). They ask it for more tokens over its control socket; what a process asked
for is released when it goes away. Without --live or --url it serves the built-in simulator.
Ctrl-C (SIGINT) or SIGTERM stops it cleanly: readers miss 'server_down' at once and the names are
removed. Started again under the same name, it resubscribes from its state file (no discovery) and
the readers follow it by themselves. Linux only (/dev/shm).

Options:
  --name NAME       the server's name: /dev/shm/polybook-NAME and /dev/shm/polybook-NAME.sock
  --live            Polymarket's real endpoint (${DEFAULT_WS_URL})
  --url URL         another market-channel endpoint
${SELECTION_HELP}
  --markets N       simulator markets (default 200, i.e. 400 tokens)
  --rate R          simulator price changes per second (default 400)
  --seed S          simulator seed (default 1)
  --worker          ingest in a worker thread
  --backend B       writer backend: native or js (reading from other processes needs the native addon)
  --capacity N      token slots (default 16384)
  --state FILE      the state file (default ~/.local/state/polybook/NAME.json)
  --no-state        keep no state file
  --duration S      stop after S seconds (default: until Ctrl-C)
  --metrics-port P  serve GET /metrics and GET /healthz of the server on port P
  --metrics-host H  address for --metrics-port (default ${DEFAULT_METRICS_HOST})

Examples:
  polybook serve --name main --markets 1000
  polybook serve --name live --live --top 50 --worker --metrics-port 9464
  polybook watch --attach live`,
  simulate: `Usage: polybook simulate [--port P] [--markets N] [--rate R] [--faults F,...] [--seed S]

Runs the built-in exchange on 127.0.0.1 until Ctrl-C and prints its URL.

Options:
  --port P          port (default 8765; 0 = any free port)
  --markets N       binary markets (default 200)
  --rate R          price changes per second (default 400)
  --faults F,...    random faults to inject: ${FAULT_NAMES.join(', ')}
  --fault-rate X    chance of a fault per change (default 0.001)
  --seed S          seed (default 1)
  --duration S      stop after S seconds

Examples:
  polybook simulate --port 9000 --markets 1000
  polybook simulate --faults drop,stall,crossed --fault-rate 0.01`,
  record: `Usage: polybook record --out FILE [--live | --url URL] [--slug S | --market ID | --top N | --tokens ID,...] [--duration S]

Writes every raw frame (with its receive time) and every subscription and disconnect to FILE,
gzip-compressed JSON lines. Without --live or --url it records the built-in simulator.
The same selection options as 'polybook watch':
${SELECTION_HELP}

Examples:
  polybook record --out session.pbrec.gz --duration 60
  polybook record --out live.pbrec.gz --live --top 50 --duration 600
  polybook record --out live.pbrec.gz --live --tokens 7193...,4460...`,
  replay: `Usage: polybook replay FILE [--speed X | --max] [--backend B] [--json]

Feeds a recording through the same ingest path and prints the resulting books and counters.
The result is the same on every run and on both backends.

Options:
  --speed X     replay at X times the recorded pace
  --max         as fast as possible (the default)
  --backend B   native or js
  --json        print the result as JSON

Examples:
  polybook replay session.pbrec.gz
  polybook replay session.pbrec.gz --json --backend js`,
  bench: `Usage: polybook bench [--quick]

Runs the benchmark suite: native and pure-TS backends and a naive Map + JSON.parse baseline,
side by side; writes bench/results.json and bench/RESULTS.md (not with --quick).`,
};

type Values = Record<string, string | boolean | undefined> & { help?: boolean };

function parse(
  cmd: string,
  args: string[],
  options: ParseArgsConfig['options'],
  positionals = false,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionals,
      strict: true,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/^.*?: /, '')}. See 'polybook ${cmd} --help'.`);
  }
}

function intOpt(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function numOpt(name: string, v: unknown, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${v}"`);
  return n;
}

function backendOpt(v: unknown): BackendName | undefined {
  if (v === undefined) return undefined;
  if (v !== 'native' && v !== 'js') throw new UsageError(`--backend must be native or js, got "${v}"`);
  return v;
}

function tokensOpt(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError('--tokens needs a comma-separated list of token ids');
  const ids = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError('--tokens needs at least one token id');
  return ids;
}

/** The feed's logger of a command: warnings and errors on stderr, nothing else (the dashboard owns stdout). */
function stderrLogger(io: Out) {
  return {
    debug: () => {},
    info: () => {},
    warn: (msg: string) => io.err(msg),
    error: (msg: string) => io.err(msg),
  };
}

/** `--metrics-port P [--metrics-host H]`, or null without them. */
function metricsOpt(values: Values): { port: number; host: string } | null {
  const port = values['metrics-port'];
  const host = values['metrics-host'];
  if (port === undefined) {
    if (host !== undefined) throw new UsageError('--metrics-host needs --metrics-port P');
    return null;
  }
  if (host !== undefined && (typeof host !== 'string' || host.trim() === ''))
    throw new UsageError('--metrics-host needs an address, such as 127.0.0.1 or ::1');
  return {
    port: intOpt('metrics-port', port, 0, 0, 65535),
    host: host === undefined ? DEFAULT_METRICS_HOST : host.trim(),
  };
}

/** Resolves when Ctrl-C (SIGINT/SIGTERM) arrives or `seconds` pass. */
function untilStopped(seconds: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      clearTimeout(t);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    const t = seconds === undefined ? undefined : setTimeout(done, seconds * 1000);
  });
}

async function simulatorFor(values: Record<string, unknown>, io: Out, port = 0): Promise<Simulator> {
  const markets = intOpt('markets', values.markets as string | undefined, 200, 1, 50_000);
  const rate = numOpt('rate', values.rate as string | undefined, 400, 0, 1_000_000);
  const seed = intOpt('seed', values.seed as string | undefined, 1, 0, 2 ** 31);
  const faults = ((values.faults as string | undefined)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? []) as FaultName[];
  for (const f of faults)
    if (!FAULT_NAMES.includes(f)) throw new UsageError(`unknown fault "${f}"; known: ${FAULT_NAMES.join(', ')}`);
  const faultRate = numOpt('fault-rate', values['fault-rate'] as string | undefined, 0.001, 0, 1);
  try {
    return await startSimulator({ port, markets, rate, seed, faults, faultRate });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE')
      throw new RuntimeError(`port ${port} is in use; choose another with --port (0 picks a free one)`);
    void io;
    throw e;
  }
}

/** A runtime failure: printed without a stack trace, exit code 1. */
export class RuntimeError extends Error {}

interface Source {
  url: string;
  label: string;
  universe: UniverseSpec;
  gammaUrl: string;
  clobUrl: string;
  sim?: Simulator;
}

function listOpt(name: string, v: unknown): string[] {
  const parts = (Array.isArray(v) ? v : [v])
    .flatMap((x) => String(x).split(','))
    .map((x) => x.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new UsageError(`--${name} needs at least one value`);
  return parts;
}

/** The discovery query of --slug, --market, --top, --tag and --by; null when none is given. */
function queryOpt(values: Record<string, unknown>): MarketQuery | null {
  const q: MarketQuery = {};
  if (values.slug !== undefined) q.slugs = listOpt('slug', values.slug);
  if (values.market !== undefined) q.markets = listOpt('market', values.market);
  if (values.top !== undefined) q.top = intOpt('top', values.top, 20, 1, MAX_TOP);
  if (values.tag !== undefined) q.tag = listOpt('tag', values.tag)[0];
  if (values.by !== undefined) {
    if (!RANK_BY.includes(values.by as RankBy))
      throw new UsageError(`--by must be ${RANK_BY.join(' or ')}, got "${String(values.by)}"`);
    if (q.top === undefined && q.tag === undefined) throw new UsageError('--by ranks --top or --tag; give one of them');
    q.by = values.by as RankBy;
  }
  return Object.keys(q).length > 0 ? q : null;
}

/** `top 20 by 24-hour volume`, `slug fed-decision`...: what a query selects, for messages. */
function describeQuery(q: MarketQuery): string {
  const parts: string[] = [];
  if (q.slugs) parts.push(`slug ${q.slugs.join(',')}`);
  if (q.markets) parts.push(`market ${q.markets.map((m) => (m.length > 14 ? `${m.slice(0, 10)}…` : m)).join(',')}`);
  if (q.tag) parts.push(`tag ${q.tag}`);
  if (q.top !== undefined) parts.push(`top ${q.top} by ${q.by === 'liquidity' ? 'liquidity' : '24-hour volume'}`);
  return parts.join(', ');
}

async function sourceFor(cmd: string, values: Record<string, unknown>, io: Out): Promise<Source> {
  const tokens = tokensOpt(values.tokens as string | undefined);
  const query = queryOpt(values);
  if (tokens && query)
    throw new UsageError(
      `--tokens cannot be combined with --slug, --market, --top or --tag. See 'polybook ${cmd} --help'.`,
    );
  if (values.live && values.url)
    throw new UsageError(`--live and --url cannot be used together. See 'polybook ${cmd} --help'.`);
  const urlFlag = (name: 'gamma-url' | 'clob-url') => {
    const v = values[name];
    if (v === undefined) return undefined;
    try {
      return checkHttpUrl(`--${name}`, v);
    } catch {
      throw new UsageError(`--${name} must be an http:// or https:// URL, got "${String(v)}"`);
    }
  };
  if (values.live || values.url) {
    const url = values.live ? DEFAULT_WS_URL : String(values.url);
    if (!values.live && !/^wss?:\/\//.test(url))
      throw new UsageError(`--url must be a ws:// or wss:// URL, got "${url}"`);
    const derived = restUrlsFor(url);
    const gammaUrl = urlFlag('gamma-url') ?? readEnv('gammaUrl') ?? derived.gammaUrl;
    const clobUrl = urlFlag('clob-url') ?? readEnv('clobUrl') ?? derived.clobUrl;
    if (tokens) return { url, label: url, universe: tokens, gammaUrl, clobUrl };
    const q = query ?? { top: 20 };
    return { url, label: `${url} (${describeQuery(q)})`, universe: q, gammaUrl, clobUrl };
  }
  if (values['gamma-url'] !== undefined || values['clob-url'] !== undefined)
    throw new UsageError('--gamma-url and --clob-url go with --live or --url (the simulator serves its own)');
  const sim = await simulatorFor(values, io);
  const base = { url: sim.url, gammaUrl: sim.httpUrl, clobUrl: sim.httpUrl, sim };
  const label = `simulator ${sim.url} (${sim.markets.length} markets)`;
  if (tokens) {
    const wanted = new Set(tokens);
    const chosen = sim.markets.filter((m) => m.tokens.some((t) => wanted.has(t)));
    return { ...base, label, universe: chosen.length > 0 ? { markets: chosen.map((m) => m.conditionId) } : tokens };
  }
  const q = query ?? { top: Math.min(sim.markets.length, MAX_TOP) };
  return { ...base, label: query ? `${label}, ${describeQuery(query)}` : label, universe: q };
}

/** One line on stderr: what is followed. */
function reportUniverse(markets: number, tokens: number, pending: number, io: Out): void {
  const what = markets > 0 ? `${markets} market${markets === 1 ? '' : 's'} (${tokens} tokens)` : `${tokens} tokens`;
  const wait = pending > 0 ? `; ${pending} new market${pending === 1 ? '' : 's'} wait for their books` : '';
  io.err(`polybook: following ${what}${wait}\n`);
}

/** Options of the commands that connect somewhere (watch, record). */
const SOURCE_OPTIONS: ParseArgsConfig['options'] = {
  live: { type: 'boolean' },
  url: { type: 'string' },
  tokens: { type: 'string' },
  slug: { type: 'string', multiple: true },
  market: { type: 'string', multiple: true },
  top: { type: 'string' },
  tag: { type: 'string' },
  by: { type: 'string' },
  'gamma-url': { type: 'string' },
  'clob-url': { type: 'string' },
  markets: { type: 'string' },
  rate: { type: 'string' },
  seed: { type: 'string' },
  duration: { type: 'string' },
};

async function cmdWatch(args: string[], io: Out): Promise<number> {
  const { values } = parse('watch', args, {
    ...SOURCE_OPTIONS,
    attach: { type: 'string' },
    'max-stale': { type: 'string' },
    backend: { type: 'string' },
    worker: { type: 'boolean' },
    json: { type: 'boolean' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
  });
  if (values.help) return help('watch', io);
  const duration = values.duration === undefined ? undefined : numOpt('duration', values.duration, 0, 0.1, 1e9);
  const backend = backendOpt(values.backend);
  const metrics = metricsOpt(values);
  if (values.attach !== undefined) return watchAttached(String(values.attach), values, duration, metrics, io);
  const src = await sourceFor('watch', values, io);
  const logger = stderrLogger(io);
  if (!Array.isArray(src.universe)) io.err(`polybook: finding markets on ${src.gammaUrl}\n`);
  const cache = await BookCache.start({
    universe: src.universe,
    url: src.url,
    gammaUrl: src.gammaUrl,
    clobUrl: src.clobUrl,
    backend,
    worker: values.worker === true,
    feed: { logger, confirmIntervalMs: 250 },
    // Token ids carry no market facts: the REST books of the warmup bring the minimum order size and
    // neg risk (and with them the server-hash check); discovery brings them for every other selection.
    rest: Array.isArray(src.universe),
  });
  const tokens = cache.tokens();
  reportUniverse(cache.markets().length, tokens.length, cache.pendingMarkets().length, io);
  return watchCache(cache, {
    label: src.label,
    tokens: () => tokens,
    values,
    duration,
    metrics,
    noBook: () =>
      `no book arrived from ${src.url} (${cache.metrics().summary().feed?.reconnects ?? 0} reconnect attempts)`,
    close: () => src.sim?.close(),
    io,
  });
}

/** `watch --attach NAME`: the dashboard of a book server's books, read from this process. */
async function watchAttached(
  name: string,
  values: Values,
  duration: number | undefined,
  metrics: { port: number; host: string } | null,
  io: Out,
): Promise<number> {
  for (const flag of Object.keys(SOURCE_OPTIONS ?? {})) {
    if (flag !== 'duration' && values[flag] !== undefined)
      throw new UsageError(`--attach reads a running server's books: --${flag} belongs to 'polybook serve'`);
  }
  if (values.worker)
    throw new UsageError("--attach reads a running server's books: --worker belongs to 'polybook serve'");
  const cache = await BookCache.connect(name);
  const server = cache.server as NonNullable<typeof cache.server>;
  try {
    cache.describeMarkets((await server.universe()).markets);
  } catch {
    // Market names are a nicety: the dashboard shows token ids without them.
  }
  io.err(`polybook: attached to book server "${name}" (generation ${server.generation}, ${cache.store.size} tokens)\n`);
  return watchCache(cache, {
    label: `server ${name}`,
    // The server's tokens now (they change as its clients come and go).
    tokens: () => cache.store.tokens(),
    values,
    duration,
    metrics,
    noBook: () => `no book of server "${name}" was ready`,
    close: async () => {},
    io,
  });
}

/** The dashboard (or `--json` lines) of a cache until stopped; then its summary. */
async function watchCache(
  cache: BookCache,
  o: {
    label: string;
    tokens: () => readonly string[];
    values: Values;
    duration: number | undefined;
    metrics: { port: number; host: string } | null;
    noBook: () => string;
    close: () => Promise<void> | undefined;
    io: Out;
  },
): Promise<number> {
  const { values, io } = o;
  if (o.metrics) {
    try {
      const server = await cache.serveMetrics(o.metrics);
      io.err(`polybook: metrics on ${server.url}/metrics, health on ${server.url}/healthz\n`);
    } catch (e) {
      await cache.stop();
      await o.close();
      throw e;
    }
  }
  const maxStale = numOpt('max-stale', values['max-stale'], cache.defaultMaxStaleMs, 1, 3_600_000);
  const started = performance.now();
  const dashboard = !values.json && io.isTTY;
  let exit = EXIT_OK;
  let everReady = false;
  const timer = setInterval(
    () => {
      const tokens = o.tokens();
      if (values.json) {
        const snap = snapshot(cache, tokens, maxStale);
        everReady ||= snap.ready > 0;
        io.out(`${JSON.stringify(snap)}\n`);
        return;
      }
      let screen: string;
      if (!cache.tradingEnabled) {
        const ready = cache.store.readyCount();
        screen = renderWarmup(o.label, ready, tokens.length, performance.now() - started);
      } else {
        for (const id of tokens) cache.get(id, maxStale);
        screen = renderDashboard(cache, o.label, started, maxStale, busiestTokens(cache, tokens, 8));
      }
      everReady ||= cache.store.readyCount() > 0;
      if (dashboard) io.out(`\x1b[H\x1b[2J${screen}\n`);
      else io.out(`${screen}\n\n`);
    },
    values.json ? 1000 : 250,
  );
  // A strategy-like reader so the hit rate means something: every token, every 50 ms.
  // A book it served was ready, whatever the table says by the end (a connected cache's server may be down by then).
  const reader = setInterval(() => {
    if (cache.tradingEnabled) for (const id of o.tokens()) if (cache.get(id, maxStale)) everReady = true;
  }, 50);
  if (dashboard) io.out('\x1b[?1049h\x1b[?25l');
  try {
    await untilStopped(o.duration);
  } finally {
    clearInterval(timer);
    clearInterval(reader);
    if (dashboard) io.out('\x1b[?25h\x1b[?1049l');
    if (!values.json) {
      const s = cache.metrics().summary();
      io.out(
        `polybook: ${s.ready}/${s.tokens} ready, hit rate ${(s.hitRate * 100).toFixed(2)}%, mean age ${s.meanAgeMs.toFixed(1)} ms, reconnects ${s.feed?.reconnects ?? 0}, desyncs ${s.desyncs}\n`,
      );
    }
    if (!everReady && cache.store.readyCount() === 0 && o.tokens().length > 0) {
      io.err(`polybook: ${o.noBook()}\n`);
      exit = EXIT_FAIL;
    }
    await cache.stop();
    await o.close();
  }
  return exit;
}

async function cmdServe(args: string[], io: Out): Promise<number> {
  const { values } = parse('serve', args, {
    ...SOURCE_OPTIONS,
    name: { type: 'string' },
    backend: { type: 'string' },
    worker: { type: 'boolean' },
    capacity: { type: 'string' },
    state: { type: 'string' },
    'no-state': { type: 'boolean' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
  });
  if (values.help) return help('serve', io);
  if (typeof values.name !== 'string') throw new UsageError(`serve needs --name NAME. See 'polybook serve --help'.`);
  try {
    checkName(values.name);
  } catch {
    throw new UsageError(
      `--name must be 1 to 64 letters, digits, dots, dashes or underscores (not first), got "${values.name}"`,
    );
  }
  if (values.state !== undefined && values['no-state'])
    throw new UsageError('--state and --no-state cannot be used together');
  const name = values.name;
  const duration = values.duration === undefined ? undefined : numOpt('duration', values.duration, 0, 0.1, 1e9);
  const backend = backendOpt(values.backend);
  const capacity = intOpt('capacity', values.capacity, 16384, 1, 4_000_000);
  const metrics = metricsOpt(values);
  const src = await sourceFor('serve', values, io);
  const logger = stderrLogger(io);
  if (!Array.isArray(src.universe)) io.err(`polybook: finding markets on ${src.gammaUrl}\n`);
  let server: BookServer;
  try {
    server = await BookServer.start({
      name,
      universe: src.universe,
      url: src.url,
      gammaUrl: src.gammaUrl,
      clobUrl: src.clobUrl,
      backend,
      worker: values.worker === true,
      capacity,
      stateFile: values['no-state'] ? false : (values.state as string | undefined),
      feed: { logger, confirmIntervalMs: 250 },
    });
  } catch (e) {
    await src.sim?.close();
    throw e;
  }
  const cache = server.cache;
  const out = (s: string) => io.out(`${s}\n`);
  out(
    `polybook: serving "${name}": ${cache.tokens().length} tokens from ${src.label}${server.restored ? ' (universe from the state file)' : ''}`,
  );
  out(
    `  books:   ${server.tablePath} (generation ${server.generation}, capacity ${cache.store.capacity}, depth ${cache.store.maxDepth})`,
  );
  out(`  control: ${server.socketPath}`);
  out(`  state:   ${server.stateFile ?? 'none (--no-state)'}`);
  if (metrics) {
    try {
      const m = await cache.serveMetrics(metrics);
      out(`  metrics: ${m.url}/metrics, health ${m.url}/healthz`);
    } catch (e) {
      await server.stop();
      await src.sim?.close();
      throw e;
    }
  }
  out(`attach from another process of this machine (same user):`);
  out(`  polybook watch --attach ${name}`);
  out(`  const cache = await BookCache.connect('${name}', { universe: [tokenId, ...] })`);
  out(`  const books = BookStore.attach('${name}')`);
  out('Ctrl-C stops the server and removes both names; readers then miss server_down.');
  try {
    await untilStopped(duration);
  } finally {
    const s = cache.metrics().summary();
    await server.stop();
    await src.sim?.close();
    out(
      `polybook: server "${name}" stopped: ${s.ready}/${s.tokens} ready, ${s.frames} frames, reconnects ${s.feed?.reconnects ?? 0}, desyncs ${s.desyncs}`,
    );
  }
  return EXIT_OK;
}

async function cmdSimulate(args: string[], io: Out): Promise<number> {
  const { values } = parse('simulate', args, {
    port: { type: 'string' },
    markets: { type: 'string' },
    rate: { type: 'string' },
    faults: { type: 'string' },
    'fault-rate': { type: 'string' },
    seed: { type: 'string' },
    duration: { type: 'string' },
  });
  if (values.help) return help('simulate', io);
  const port = intOpt('port', values.port, 8765, 0, 65535);
  const duration = values.duration === undefined ? undefined : numOpt('duration', values.duration, 0, 0.1, 1e9);
  const sim = await simulatorFor(values, io, port);
  io.out(`polybook simulator listening on ${sim.url} (${sim.markets.length} markets, ${sim.tokens.length} tokens)\n`);
  io.out(`first tokens: ${sim.tokens.slice(0, 4).join(',')}\n`);
  io.out(
    `REST (Gamma and CLOB): ${sim.httpUrl}; event slugs: ${[...new Set(sim.markets.map((m) => m.eventSlug))].slice(0, 3).join(', ')}\n`,
  );
  io.out(`try: polybook watch --url ${sim.url} --top 10\n`);
  await untilStopped(duration);
  const st = sim.stats();
  await sim.close();
  io.out(`polybook simulator stopped: ${JSON.stringify(st)}\n`);
  return EXIT_OK;
}

async function cmdRecord(args: string[], io: Out): Promise<number> {
  const { values } = parse('record', args, {
    out: { type: 'string', short: 'o' },
    ...SOURCE_OPTIONS,
    backend: { type: 'string' },
  });
  if (values.help) return help('record', io);
  if (!values.out) throw new UsageError(`record needs --out FILE. See 'polybook record --help'.`);
  const duration = values.duration === undefined ? undefined : numOpt('duration', values.duration, 0, 0.1, 1e9);
  const backend = backendOpt(values.backend);
  const recorder = new Recorder(String(values.out));
  const src = await sourceFor('record', values, io);
  if (!Array.isArray(src.universe)) io.err(`polybook: finding markets on ${src.gammaUrl}\n`);
  let universe: Awaited<ReturnType<typeof resolveUniverse>>;
  try {
    universe = await resolveUniverse(src.universe, { gammaUrl: src.gammaUrl, clobUrl: src.clobUrl });
  } catch (e) {
    await src.sim?.close();
    throw e;
  }
  for (const w of universe.warnings) io.err(`polybook: ${w}\n`);
  reportUniverse(universe.markets.length, universe.groups.flatMap((g) => g.tokens).length, universe.pending.length, io);
  const store = new BookStore({ clock: 'precise', backend, observe: recorder.observe });
  const feed = new SubscriptionManager(store, { url: src.url });
  feed.start(universe.groups);
  io.err(`polybook: recording ${src.label} to ${values.out}; Ctrl-C to stop\n`);
  await untilStopped(duration);
  // Stop recording before the feed closes its sockets, so the recording ends with live books.
  await recorder.close();
  await feed.stop();
  store.close();
  await src.sim?.close();
  io.out(`polybook: recorded ${recorder.frames} frames to ${values.out}\n`);
  return EXIT_OK;
}

async function cmdReplay(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parse(
    'replay',
    args,
    { speed: { type: 'string' }, max: { type: 'boolean' }, backend: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (values.help) return help('replay', io);
  if (positionals.length !== 1) throw new UsageError(`replay needs exactly one FILE. See 'polybook replay --help'.`);
  if (values.speed !== undefined && values.max) throw new UsageError('--speed and --max cannot be used together');
  const speed = values.speed === undefined ? undefined : numOpt('speed', values.speed, 1, 0.001, 1e6);
  const ops = readRecording(positionals[0]);
  const pace = speed === undefined ? undefined : (dt: number) => new Promise<void>((r) => setTimeout(r, dt / speed));
  const result = await replay(ops, { backend: backendOpt(values.backend), pace });
  if (values.json) {
    io.out(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  }
  io.out(`replayed ${result.frames} frames on the ${result.backend} backend\n\n`);
  io.out('token                                          ready    bid      ask    levels  sequence\n');
  for (const [id, b] of Object.entries(result.books)) {
    if (!b) continue;
    io.out(
      `${id.padEnd(46)} ${String(b.ready).padEnd(6)} ${px(b.bestBid)}  ${px(b.bestAsk)}  ${String(b.bids + b.asks).padStart(6)}  ${String(b.sequence).padStart(8)}\n`,
    );
  }
  io.out('\ncounters\n');
  for (const [k, v] of Object.entries(result.counters)) if (v !== 0) io.out(`  ${k.padEnd(20)} ${v}\n`);
  return EXIT_OK;
}

const px = (v: number | null): string => (v === null ? '    –' : v.toFixed(3));

async function cmdBench(args: string[], io: Out): Promise<number> {
  const { values } = parse('bench', args, { quick: { type: 'boolean' } });
  if (values.help) return help('bench', io);
  const { runBenchmarks } = await import('../bench/index.js');
  await runBenchmarks({ quick: values.quick === true, log: io.out });
  return EXIT_OK;
}

function help(cmd: string, io: Out): number {
  io.out(`${HELP[cmd]}\n`);
  return EXIT_OK;
}

/** Runs the CLI; returns the exit code. Never throws. */
export async function main(argv: string[], io: Out): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first.startsWith('-')) {
      if (first === '--help' || first === '-h') return help('main', io);
      return await cmdWatch(argv, io);
    }
    switch (first) {
      case 'watch':
        return await cmdWatch(rest, io);
      case 'serve':
        return await cmdServe(rest, io);
      case 'simulate':
        return await cmdSimulate(rest, io);
      case 'record':
        return await cmdRecord(rest, io);
      case 'replay':
        return await cmdReplay(rest, io);
      case 'bench':
        return await cmdBench(rest, io);
      case 'help':
        return help(rest[0] && HELP[rest[0]] ? rest[0] : 'main', io);
      default:
        throw new UsageError(`unknown command "${first}". See 'polybook --help'.`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`polybook: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError || e instanceof DiscoveryError) {
      io.err(`${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof PolybookError) {
      io.err(`${e.message}\n`);
      return EXIT_FAIL;
    }
    if (e instanceof RecordingError || e instanceof RuntimeError) {
      io.err(`polybook: ${e.message}\n`);
      return EXIT_FAIL;
    }
    io.err(`polybook: ${(e as Error).message ?? String(e)}\n`);
    return EXIT_FAIL;
  }
}
