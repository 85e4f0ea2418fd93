/**
 * A connected cache goes live by market name: `BookCache.connect(name, { universe: query })` has
 * the book server run the discovery (with its own REST URLs and HTTP client) and hold the markets
 * found for the client; `cache.market()` describes them, and every token of the server's universe
 * it described, as a started cache does. Hostile queries are refused without touching anyone
 * else; a client's query-acquired tokens are released when it goes away.
 */
import { describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { BookCache } from '../src/cache/book-cache.js';
import { LAYOUT_VERSION } from '../src/table/layout.js';
import { MAX_DISCOVERIES, MAX_QUERY_IDS, PROTOCOL_VERSION } from '../src/server/protocol.js';
import { waitFor } from './helpers.js';
import { afterTest, groupsOf, simulator, startCache } from './rig.js';
import { localServer, rawClient, serverName, type RawClient } from './server-rig.js';

/** A raw client of the control socket, past its hello. */
async function helloed(name: string): Promise<RawClient> {
  const c = await rawClient(name, 30_000);
  expect((await c.ask({ op: 'hello', protocol: PROTOCOL_VERSION, layoutVersion: LAYOUT_VERSION, pid: 1 })).ok).toBe(
    true,
  );
  return c;
}

async function connected(name: string, options: Parameters<typeof BookCache.connect>[1]): Promise<BookCache> {
  const cache = await BookCache.connect(name, options);
  afterTest(() => cache.stop());
  return cache;
}

describe('a connected cache on a discovery query', () => {
  it('connects by { slugs } and { top }: the books are served and market() is what a started cache says', async () => {
    const sim = await simulator({ markets: 8, rate: 0, seed: 5 });
    const markets = sim.markets;
    const byVolume = [...markets].sort((a, b) => b.volume24h - a.volume24h);
    const rank = (m: { conditionId: string }) => byVolume.findIndex((x) => x.conditionId === m.conditionId);
    // The server's own universe: a discovered market (described), and a group given by ids.
    const own = byVolume[7]!;
    // An event none of whose markets is in the top 2 or the server's own: each market is found one way.
    const event = byVolume
      .slice(2, 7)
      .map((m) => m.eventSlug)
      .find((e) => markets.every((m) => m.eventSlug !== e || (rank(m) >= 2 && rank(m) < 7)))!;
    const members = markets.filter((m) => m.eventSlug === event);
    expect(members.length).toBeGreaterThan(0);
    const name = serverName('discover');
    const server = await localServer({ name, url: sim.url, universe: { markets: [own.conditionId] } });
    await server.cache.warmup();
    // The reference: a cache started on its own feed with the same queries.
    const started = await startCache({
      url: sim.url,
      universe: { slugs: [event], top: 2, markets: [own.conditionId] },
      warmupMinReadyFraction: 1,
    });
    await started.warmup();

    const a = await connected(name, { universe: { slugs: [event] } });
    expect(a.tokens().sort()).toEqual(members.flatMap((m) => m.tokens).sort());
    expect(await a.warmup()).toMatchObject({ ready: members.length * 2, timedOut: false });
    for (const m of members) {
      for (const t of m.tokens) {
        expect(server.cache.refCount(t)).toBe(1);
        await waitFor(() => a.get(t, 60_000) !== null, 'a book of the queried event');
        expect(a.market(t)).not.toBeNull();
        expect(a.market(t)).toEqual(started.market(t));
      }
    }
    // The server's own discovered market is described too, though this client never asked for it.
    expect(a.market(own.no)).toEqual(started.market(own.no));
    expect(a.market(own.no)?.outcome).toBe(own.outcomes[1]);
    // So is it for a client that names tokens by id.
    const byId = await connected(name, { universe: [own.yes] });
    expect(byId.market(own.yes)).toEqual(started.market(own.yes));
    expect(byId.market(members[0]!.no)).toEqual(started.market(members[0]!.no));

    const b = await connected(name, { universe: { top: 2 } });
    const top = byVolume.slice(0, 2);
    expect(b.tokens().sort()).toEqual(top.flatMap((m) => m.tokens).sort());
    await b.warmup();
    for (const m of top) {
      await waitFor(() => b.get(m.yes, 60_000) !== null, 'a book of the top markets');
      expect(b.market(m.yes)).toEqual(started.market(m.yes));
    }
    // What another client acquired by query before this one connected is described here too.
    expect(b.market(members[0]!.yes)).toEqual(started.market(members[0]!.yes));
    // ... and what one acquires afterwards, once the server's directory shows it.
    const late = markets.find((m) => !server.cache.store.has(m.yes))!;
    const c = await connected(name, { universe: { markets: [late.conditionId] } });
    expect(c.market(late.yes)?.market.conditionId).toBe(late.conditionId);
    await waitFor(() => a.market(late.yes) !== null, "another client's query described");
    expect(a.market(late.yes)).toEqual(c.market(late.yes));

    // Released on disconnect: the query's tokens go, the other clients' and the server's stay.
    await c.stop();
    await waitFor(() => !server.cache.store.has(late.yes), "the gone client's query tokens released");
    expect(server.cache.refCount(late.no)).toBe(0);
    await waitFor(() => a.market(late.yes) === null, 'the released market forgotten');
    for (const t of members.flatMap((m) => m.tokens)) expect(server.cache.refCount(t)).toBe(1);
    expect(server.cache.refCount(own.yes)).toBe(2); // the server's and the by-id client's
    expect(a.market(own.yes)).not.toBeNull();
  });

  it('refuses hostile queries with an error reply; the server keeps serving and other clients keep their tokens', async () => {
    const sim = await simulator({ markets: 4, rate: 0, seed: 6 });
    const name = serverName('hostile-query');
    const server = await localServer({ name, url: sim.url, universe: groupsOf(sim).slice(0, 1) });
    const [theirs, other] = sim.markets.slice(1);
    const good = await connected(name, { universe: { slugs: [theirs!.slug] } });
    expect(good.tokens().sort()).toEqual([...theirs!.tokens].sort());

    const evil = await helloed(name);
    const refused = async (universe: unknown, code = 'POLYBOOK_CONTROL') => {
      const r = await evil.ask({ op: 'acquire', universe });
      expect(r.ok, JSON.stringify(universe).slice(0, 80)).toBe(false);
      expect(r.error?.code).toBe(code);
      return r.error?.message ?? '';
    };
    expect(await refused({})).toMatch(/at least one of/);
    expect(await refused({ top: 'all' })).toMatch(/universe\.top/);
    expect(await refused({ top: 1e9 })).toMatch(/universe\.top/);
    expect(await refused({ top: -1 })).toMatch(/universe\.top/);
    expect(await refused({ top: 2.5 })).toMatch(/universe\.top/);
    expect(await refused({ top: 2, by: 'price' })).toMatch(/universe\.by/);
    expect(await refused({ slugs: theirs!.slug })).toMatch(/universe\.slugs/);
    expect(await refused({ slugs: [1] })).toMatch(/universe\.slugs/);
    expect(await refused({ tokens: [null] })).toMatch(/universe\.tokens/);
    expect(await refused({ tag: {} })).toMatch(/universe\.tag/);
    expect(await refused({ everything: true })).toMatch(/universe\.everything/);
    expect(await refused({ slugs: ['x'.repeat(500)] })).toMatch(/characters/);
    const many = Array.from({ length: MAX_QUERY_IDS + 1 }, (_, i) => `slug-${i}`);
    expect(await refused({ slugs: many })).toMatch(/at most/);
    // Well-formed, but nothing to follow: the discovery's own error, as a reply.
    expect(await refused({ slugs: ['no-such-event-anywhere'] }, 'POLYBOOK_DISCOVERY')).toMatch(
      /no-such-event-anywhere/,
    );
    // Replies stay in order behind a discovery (the requests sent in one write).
    evil.socket.write(
      `${JSON.stringify({ id: 100, op: 'acquire', universe: { markets: [other!.conditionId] } })}\n${JSON.stringify({ id: 101, op: 'metrics' })}\n${JSON.stringify({ id: 102, op: 'release', tokens: [other!.yes] })}\n`,
    );
    const first = await evil.next();
    expect(first).toMatchObject({ id: 100, ok: true, result: { added: 2, held: 2, pending: [], warnings: [] } });
    expect((first.result as { markets: { conditionId: string }[] }).markets.map((m) => m.conditionId)).toEqual([
      other!.conditionId,
    ]);
    expect(await evil.next()).toMatchObject({ id: 101, ok: true, result: { clients: 2 } });
    expect(await evil.next()).toMatchObject({ id: 102, ok: true, result: { released: 1, held: 1 } });

    // Nothing of the other client was touched; the server still answers it.
    for (const t of theirs!.tokens) expect(server.cache.refCount(t)).toBe(1);
    expect(
      server
        .clients()
        .map((c) => c.tokens)
        .sort(),
    ).toEqual([1, 2]);
    await good.warmup();
    await waitFor(() => good.get(theirs!.yes, 60_000) !== null, "the good client's book");
    expect((await good.server!.metrics()).clients).toBe(2);
    // The raw client goes away: its query's tokens are released, the good client's stay.
    evil.socket.destroy();
    await waitFor(() => server.cache.refCount(other!.no) === 0, "the raw client's tokens released");
    expect(server.cache.refCount(theirs!.yes)).toBe(1);

    // A bad query never leaves the connecting process: ConfigError before anything opens.
    const err = await BookCache.connect(name, { universe: { top: 0 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_CONFIG' });
  });

  it('a discovery that cannot reach Gamma is an error reply, not a hang; lookups fall back to the CLOB', async () => {
    const sim = await simulator({ markets: 3, rate: 0, seed: 7 });
    const name = serverName('gamma-down');
    // Nothing listens on port 1 of the loopback: every Gamma request is refused at once.
    await localServer({ name, url: sim.url, gammaUrl: 'http://127.0.0.1:1', http: { retries: 0 } });
    const err = await BookCache.connect(name, { universe: { top: 2 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'POLYBOOK_NETWORK' });
    expect((err as Error).message).toMatch(/discovery failed/);
    // A slug lookup is answered from the CLOB's market list instead.
    const m = sim.markets[1]!;
    const cache = await connected(name, { universe: { slugs: [m.slug] } });
    expect(cache.tokens().sort()).toEqual([...m.tokens].sort());
    expect(cache.market(m.yes)?.market).toMatchObject({ conditionId: m.conditionId, source: 'clob' });
  });

  it('a discovery waiting on a Gamma that never answers: others are served, at most a few run at once, a client that leaves stops its own', async () => {
    const sim = await simulator({ markets: 2, rate: 0, seed: 8 });
    // A Gamma that accepts every request and never answers it.
    const open = new Set<IncomingMessage>();
    let arrived = 0;
    const gamma = createServer((req) => {
      arrived++;
      open.add(req);
      req.socket.once('close', () => open.delete(req));
    });
    await new Promise<void>((resolve) => gamma.listen(0, '127.0.0.1', resolve));
    afterTest(() => {
      gamma.closeAllConnections();
      gamma.close();
    });
    const { port } = gamma.address() as { port: number };
    const name = serverName('gamma-hangs');
    const server = await localServer({
      name,
      url: sim.url,
      universe: groupsOf(sim).slice(0, 1),
      gammaUrl: `http://127.0.0.1:${port}`,
      http: { timeoutMs: 600_000 },
    });
    const waiting = [];
    for (let i = 0; i <= MAX_DISCOVERIES; i++) {
      const c = await helloed(name);
      c.socket.write(`${JSON.stringify({ id: 50, op: 'acquire', universe: { top: 2 } })}\n`);
      waiting.push(c);
    }
    await waitFor(() => arrived === MAX_DISCOVERIES, 'the first discoveries at Gamma');
    // Meanwhile the server answers everyone else.
    const other = await helloed(name);
    expect(await other.ask({ op: 'metrics' })).toMatchObject({ ok: true, result: { clients: MAX_DISCOVERIES + 2 } });
    expect(arrived).toBe(MAX_DISCOVERIES);
    // A client that leaves stops its discovery (its request to Gamma is dropped); the one waiting gets its turn.
    waiting[0]!.socket.destroy();
    await waitFor(() => arrived === MAX_DISCOVERIES + 1, 'the waiting discovery started');
    await waitFor(() => open.size === MAX_DISCOVERIES, "the gone client's request to Gamma dropped");
    expect(server.clients().every((c) => c.tokens === 0)).toBe(true);
    expect(server.cache.tokens()).toEqual(groupsOf(sim)[0]!.tokens);
    // Stopping the server closes the connections and ends the discoveries still running.
    const closed = once(waiting[1]!.socket, 'close');
    await server.stop();
    await closed;
    await waitFor(() => open.size === 0, 'every request to Gamma dropped');
  });
});
