/**
 * The processes of the book-server tests (test/server.test.ts), started by `startChild` in
 * test/server-rig.ts: a `server` (a BookServer on a simulator URL) or a `reader` (another process
 * reading the server's books nonstop). They talk to the test over the IPC channel: one request
 * `{ id, op, ... }`, one reply `{ id, value }` or `{ id, error }`.
 */
import { BookServer } from '../src/server/server.js';
import { BookCache } from '../src/cache/book-cache.js';
import { BookStore } from '../src/table/store.js';
import { preciseNow } from '../src/table/clock.js';
import type { Book } from '../src/table/view.js';
import type { BackendName } from '../src/backend/index.js';
import type { UniverseSpec } from '../src/cache/universe.js';
import type { AttachedStore } from '../src/server/attached.js';
import type { BookChange } from '../src/cache/watch.js';

/** FNV-1a over the prices and sizes of a book's published levels: the same on both sides. */
export function digest(b: Book): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    const s = String(x);
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    h = Math.imul(h ^ 124, 16777619);
  };
  for (const l of b.bids) {
    mix(l.price);
    mix(l.size);
  }
  mix(-1);
  for (const l of b.asks) {
    mix(l.price);
    mix(l.size);
  }
  return h >>> 0;
}

export interface ServerConfig {
  role: 'server';
  name: string;
  url: string;
  /** Groups, or a discovery query (then `restUrl` serves Gamma and the CLOB). */
  universe?: UniverseSpec;
  restUrl?: string;
  backend: BackendName;
  worker?: boolean;
  stateFile: string | false;
  /** Record every published book version (token, sequence, digest) after every frame. */
  record?: boolean;
}

export interface ReaderConfig {
  role: 'reader';
  name: string;
  /** `attach`: BookStore.attach; `connect`: BookCache.connect holding `universe`. */
  mode: 'attach' | 'connect';
  /** Tokens read in the loop. */
  tokens: string[];
  /** Groups, or a discovery query the server runs. */
  universe?: UniverseSpec;
  maxStaleMs?: number;
  /**
   * Watch `tokens` and record every notification: `store.watch` (attach), `cache.watch` and
   * `cache.changes` (connect), and do not read in a loop. Reported by the `watched` request.
   */
  watch?: boolean;
}

/** A notification a reader's watch received, and when (`preciseNow()`, the host's monotonic clock). */
export interface Heard {
  tokenId: string;
  ready: boolean;
  versions: number;
  at: number;
}

type Handler = (m: Record<string, unknown>) => unknown;

function serve(handlers: Record<string, Handler>): void {
  process.on('message', async (m: { id: number; op: string }) => {
    try {
      const value = await handlers[m.op]?.(m);
      process.send?.({ id: m.id, value });
    } catch (e) {
      process.send?.({ id: m.id, error: { message: (e as Error).message, code: (e as { code?: string }).code } });
    }
  });
}

async function runServer(c: ServerConfig): Promise<void> {
  const server = await BookServer.start({
    name: c.name,
    url: c.url,
    universe: c.universe,
    ...(c.restUrl ? { gammaUrl: c.restUrl, clobUrl: c.restUrl } : {}),
    backend: c.backend,
    worker: c.worker === true,
    stateFile: c.stateFile,
    stateIntervalMs: 500,
    restoreGraceMs: 2000,
    feed: { confirmIntervalMs: 100 },
  });
  // The truth: every version the server published, recorded right after the frame that made it.
  const truth = new Map<string, Map<number, number>>();
  let frames = 0;
  if (c.record) {
    const store = server.cache.store as BookStore;
    const ingest = store.ingest.bind(store);
    const ids = /"asset_id":"([^"]+)"/g;
    store.ingest = (frame, recvMs) => {
      const status = ingest(frame, recvMs);
      frames++;
      const text = typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8');
      for (const m of text.matchAll(ids)) {
        const b = store.get(m[1], Number.MAX_VALUE);
        if (!b) continue;
        const versions = truth.get(m[1]) ?? new Map<number, number>();
        truth.set(m[1], versions);
        versions.set(b.sequence, digest(b));
      }
      return status;
    };
  }
  serve({
    warm: async () => (await server.cache.warmup()).ready,
    tokens: () => ({ held: server.cache.tokens(), clients: server.clients() }),
    frames: () => frames,
    truth: () => ({ frames, versions: [...truth].map(([t, v]) => [t, [...v]]) }),
    stop: async () => {
      await server.stop();
      setImmediate(() => process.exit(0));
    },
  });
  process.send?.({
    ready: true,
    generation: server.generation,
    restored: server.restored,
    table: server.tablePath,
    socket: server.socketPath,
  });
}

async function runReader(c: ReaderConfig): Promise<void> {
  const cache = c.mode === 'connect' ? await BookCache.connect(c.name, { universe: c.universe ?? [] }) : null;
  const store: AttachedStore = cache ? (cache.store as AttachedStore) : BookStore.attach(c.name);
  const maxStale = c.maxStaleMs ?? 5000;
  // Right after attaching: how many books are served at once (a warm restart).
  const firstServed = c.tokens.filter((t) => (cache ? cache.get(t, maxStale) : store.get(t, maxStale)) !== null).length;
  const seen = new Map<string, Map<number, number>>();
  const handles = c.tokens.map((t) => store.handle(t));
  let served = 0;
  let crossed = 0;
  let tops = 0;
  let maxLagMs = 0;
  let lastServedAt = 0;
  let lastServedGeneration = 0;
  let allDownSince = 0;
  let running = true;
  const loop = () => {
    if (!running) return;
    const end = performance.now() + 5;
    while (performance.now() < end) {
      let down = 0;
      for (let i = 0; i < c.tokens.length; i++) {
        const t = c.tokens[i];
        const b = store.get(t, maxStale);
        const h = handles[i];
        if (h.top(maxStale)) {
          tops++;
          if (!(h.bidPrice < h.askPrice)) crossed++;
        }
        if (!b) {
          if (!store.serverUp) down++;
          continue;
        }
        served++;
        // How old the heartbeat was when the read was served (the coarse clock is the heartbeat).
        const lag = preciseNow() - store.reader.clock();
        if (lag > maxLagMs) maxLagMs = lag;
        lastServedAt = preciseNow();
        lastServedGeneration = store.generation;
        if (!(b.bestBid === null || b.bestAsk === null || b.bestBid < b.bestAsk)) crossed++;
        const versions = seen.get(t) ?? new Map<number, number>();
        seen.set(t, versions);
        versions.set(b.sequence, digest(b));
      }
      if (down === c.tokens.length) {
        if (allDownSince === 0) allDownSince = preciseNow();
      } else allDownSince = 0;
    }
    setImmediate(loop);
  };
  // A watching reader only listens: what it hears comes from its watches, not from reads.
  if (!c.watch) setImmediate(loop);
  const heard: Heard[] = [];
  const iterated: Heard[] = [];
  if (c.watch) {
    const record = (into: Heard[]) => (ch: BookChange) =>
      into.push({ tokenId: ch.tokenId, ready: ch.ready, versions: ch.versions, at: preciseNow() });
    if (cache) {
      cache.watch(c.tokens, record(heard));
      const push = record(iterated);
      void (async () => {
        for await (const ch of cache.changes(c.tokens)) push(ch);
      })();
    } else store.watch(c.tokens, record(heard));
  }
  serve({
    watched: () => ({ heard, iterated, health: cache?.health() ?? null }),
    report: (m) => {
      const misses = store.metrics().misses;
      return {
        firstServed,
        served,
        tops,
        crossed,
        maxLagMs,
        lastServedAt,
        lastServedGeneration,
        allDownSince,
        generation: store.generation,
        serverUp: store.serverUp,
        misses,
        versions: m.versions ? [...seen].map(([t, v]) => [t, [...v]]) : undefined,
      };
    },
    resetLag: () => {
      maxLagMs = 0;
    },
    stop: async () => {
      running = false;
      if (cache) await cache.stop();
      else store.close();
      setImmediate(() => process.exit(0));
    },
  });
  process.send?.({
    ready: true,
    firstServed,
    generation: store.generation,
    // What a connected cache holds, and the market the server described for each.
    held: cache?.tokens() ?? [],
    markets: cache ? cache.tokens().map((t) => cache.market(t)?.market.conditionId ?? null) : [],
  });
}

const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig | ReaderConfig;
const run = config.role === 'server' ? runServer(config) : runReader(config);
run.catch((e: unknown) => {
  process.send?.({ fatal: { message: (e as Error).message, code: (e as { code?: string }).code } });
  setImmediate(() => process.exit(1));
});
