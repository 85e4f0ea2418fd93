/**
 * A local exchange speaking Polymarket's public market WebSocket protocol (docs/PROTOCOL.md sections 1
 * and 2), for tests and benchmarks without internet: seeded markets, live books, the real wire format and
 * injectable faults.
 */
import { Exchange } from './engine.js';
import { tickUnits } from './decimal.js';
import { isLoopback, listen } from './server.js';
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
  Simulator,
  SimulatorOptions,
  SimulatorStats,
  TokenInfo,
  TopOfBook,
} from './types.js';

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new RangeError(`simulator listens on loopback only, got host "${host}"`);
  const path = options.path ?? '/ws/market';
  const markets = options.markets ?? 10;
  if (!Number.isInteger(markets) || markets < 1)
    throw new RangeError(`markets must be a positive integer, got ${markets}`);
  if (options.tickSize !== undefined) tickUnits(options.tickSize);
  const minOrderSize = options.minOrderSize ?? '5';
  if (!/^\d+(\.\d{1,2})?$/.test(minOrderSize)) throw new RangeError(`bad minOrderSize "${minOrderSize}"`);
  const faults = options.faults ?? [];
  for (const f of faults) if (!FAULT_NAMES.includes(f)) throw new RangeError(`unknown fault "${String(f)}"`);

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
    onTopOfBook: options.onTopOfBook,
  });
  let listener: Awaited<ReturnType<typeof listen>>;
  try {
    listener = await listen(
      { host, port: options.port ?? 0, path, rest: options.rest ?? true },
      { onSocket: (ws, socket) => ex.attach(ws, socket), restBook: (id) => ex.restBook(id) },
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
    if (!m) throw new RangeError(`unknown market or token ${id}`);
    return m;
  };
  let closing: Promise<void> | null = null;

  const sim: Simulator = {
    url: `ws://${base}${path}`,
    httpUrl: `http://${base}`,
    port: listener.port,
    tokens: Object.freeze([...ex.tokenIds]),
    get markets(): MarketInfo[] {
      return ex.markets.map(marketInfo);
    },
    token: (id) => {
      const t = ex.token(id);
      return t && tokenInfo(t);
    },
    book: (id) => {
      const t = ex.token(id);
      if (!t) throw new RangeError(`unknown token ${id}`);
      return bookState(t);
    },
    step: (n = 1) => ex.step(n),
    setRate: (rate) => ex.setRate(rate),
    connections: () => ex.connections(),
    stats: () => ex.stats(),
    settle: (id) => ex.settle(marketOf(id)),
    setTickSize: (id, tick) => ex.setTickSize(marketOf(id), tick),
    inject: (fault, target) => ex.inject(fault, target),
    heal: (connection) => ex.heal(connection),
    close: () => {
      closing ??= (async () => {
        ex.close();
        await listener.close();
      })();
      return closing;
    },
  };
  return sim;
}
