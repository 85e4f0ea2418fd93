/**
 * A local exchange speaking Polymarket's public market WebSocket protocol (docs/PROTOCOL.md sections 1
 * and 2), for tests and benchmarks without internet: seeded markets, live books, the real wire format and
 * injectable faults.
 */
import { Exchange } from './engine.js';
import { TICK_SIZES } from './decimal.js';
import { ConfigError, PolybookError, invalidArgument } from '../errors.js';
import { isLoopback, listen } from './server.js';
import { RestService } from './rest.js';
import { FAULT_NAMES } from './types.js';
import { bookState, marketInfo, tokenInfo } from './views.js';
import type { MarketInfo, Simulator, SimulatorOptions } from './types.js';

export { FAULT_NAMES, DEFAULT_OVERSIZED_BYTES } from './types.js';
export type {
  BookState,
  ConnectionInfo,
  FaultName,
  InjectTarget,
  Level,
  MalformedVariant,
  MarketInfo,
  RestFailure,
  Simulator,
  SimulatorOptions,
  SimulatorStats,
  TokenInfo,
  TopOfBook,
} from './types.js';

/**
 * Starts a local exchange on loopback (an ephemeral port by default) and resolves once it listens.
 * Stop it with `close()` (or `await using sim = await startSimulator()`).
 * @throws ConfigError on an invalid option (a non-loopback host, an unknown fault, ...).
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new ConfigError(
      'host',
      host,
      'a loopback address such as 127.0.0.1 or ::1 (the simulator listens on loopback only)',
    );
  }
  const path = options.path ?? '/ws/market';
  const markets = options.markets ?? 10;
  if (!Number.isInteger(markets) || markets < 1) throw new ConfigError('markets', markets, 'a positive integer');
  if (options.tickSize !== undefined && !Object.hasOwn(TICK_SIZES, options.tickSize)) {
    throw new ConfigError('tickSize', options.tickSize, `one of ${Object.keys(TICK_SIZES).join(', ')}`);
  }
  const minOrderSize = options.minOrderSize ?? '5';
  if (!/^\d+(\.\d{1,2})?$/.test(minOrderSize)) {
    throw new ConfigError('minOrderSize', minOrderSize, 'a decimal text with at most 2 decimals, such as "5" or "2.5"');
  }
  const hydrating = options.hydratingMarkets ?? 0;
  if (!Number.isInteger(hydrating) || hydrating < 0 || hydrating > markets) {
    throw new ConfigError('hydratingMarkets', hydrating, `an integer from 0 to markets (${markets})`);
  }
  const faults = options.faults ?? [];
  for (const f of faults)
    if (!FAULT_NAMES.includes(f)) throw new ConfigError('faults', f, `one of ${FAULT_NAMES.join(', ')}`);

  const ex = new Exchange({
    seed: options.seed ?? 1,
    markets,
    rate: 0,
    maxTokensPerConnection: options.maxTokensPerConnection ?? 500,
    maxTokensPerFrame: options.maxTokensPerFrame ?? 750,
    tickSize: options.tickSize,
    minOrderSize,
    snapshotDelayMs: options.snapshotDelayMs ?? 20,
    clock: options.clock ?? Date.now,
    faults,
    faultRate: options.faultRate ?? 0.001,
    tickChangeRate: options.tickChangeRate ?? 0.0002,
    maxBufferedBytes: options.maxBufferedBytes ?? 32 * 1024 * 1024,
    hydrating,
    onTopOfBook: options.onTopOfBook,
  });
  const rest = new RestService(ex, ex.catalog, options.seed ?? 1);
  let listener: Awaited<ReturnType<typeof listen>>;
  try {
    listener = await listen(
      { host, port: options.port ?? 0, path, rest: options.rest ?? true },
      { onSocket: (ws, socket) => ex.attach(ws, socket), rest: (req, res) => rest.handle(req, res) },
    );
  } catch (e) {
    ex.close();
    throw e;
  }
  ex.setRate(options.rate ?? 200);

  const hostPart = host.includes(':') ? `[${host}]` : host;
  const base = `${hostPart}:${listener.port}`;
  const marketOf = (id: string) => {
    const m = ex.market(id);
    if (!m) throw invalidArgument('range', `polybook simulator: unknown market or token ${id}`);
    return m;
  };
  let closing: Promise<void> | null = null;
  /** Calls that drive the exchange are refused once it is closed (reads stay allowed). */
  const live = (what: string): void => {
    if (closing) {
      throw new PolybookError('POLYBOOK_STOPPED', `polybook simulator: ${what}() after close(); start a new simulator`);
    }
  };

  const sim: Simulator = {
    url: `ws://${base}${path}`,
    httpUrl: `http://${base}`,
    port: listener.port,
    tokens: Object.freeze([...ex.tokenIds]),
    get markets(): MarketInfo[] {
      return ex.markets.map((m) => marketInfo(m, ex.catalog.entry(m)));
    },
    token: (id) => {
      const t = ex.token(id);
      return t && tokenInfo(t);
    },
    book: (id) => {
      const t = ex.token(id);
      if (!t) throw invalidArgument('range', `polybook simulator: unknown token ${id}`);
      return bookState(t);
    },
    step: (n = 1) => {
      live('step');
      return ex.step(n);
    },
    setRate: (rate) => {
      live('setRate');
      ex.setRate(rate);
    },
    connections: () => ex.connections(),
    stats: () => ({ ...ex.stats(), restRequests: rest.requests, restFailures: rest.failures }),
    settle: (id) => {
      live('settle');
      ex.settle(marketOf(id));
    },
    setTickSize: (id, tick) => {
      live('setTickSize');
      ex.setTickSize(marketOf(id), tick);
    },
    inject: (fault, target) => {
      live('inject');
      return ex.inject(fault, target);
    },
    heal: (connection) => {
      live('heal');
      ex.heal(connection);
    },
    failRest: (f) => {
      live('failRest');
      rest.fail(f);
    },
    hydrate: (id) => {
      live('hydrate');
      ex.hydrate(marketOf(id));
    },
    close: () => {
      closing ??= (async () => {
        ex.close();
        await listener.close();
      })();
      return closing;
    },
    [Symbol.asyncDispose]: () => sim.close(),
  };
  return sim;
}
