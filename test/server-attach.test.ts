/**
 * Attaching to a book server from this process (a second mapping of the same file, read as
 * another process reads it): the same reads and watches on both server backends and in worker
 * mode, owner-only files, and the errors that say what to do.
 */
import { describe, expect, it, vi } from 'vitest';
import { statSync, writeFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BookStore } from '../src/table/store.js';
import { BookCache } from '../src/cache/book-cache.js';
import { BookServer } from '../src/server/server.js';
import { tablePath, socketPath } from '../src/server/memory.js';
import { HEADER_BYTES, LAYOUT_VERSION, MAGIC, SERVER_RUNNING, H_SERVER_STATE } from '../src/table/layout.js';
import { BACKENDS, waitFor } from './helpers.js';
import { afterTest, groupsOf, simulator } from './rig.js';
import { localServer, removeServerFiles, serverName } from './server-rig.js';
import type { BookChange } from '../src/cache/watch.js';

/** A polybook error's code, or the error itself when it has none. */
function codeOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? e;
  }
  return 'no error';
}

async function rejectionCode(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? e;
  }
  return 'no error';
}

describe.each(BACKENDS)('attached reads (%s writer in the server)', (backend) => {
  it.each([false, true])(
    'serve the books the server serves, and watches see its changes (worker: %s)',
    async (worker) => {
      const sim = await simulator({ markets: 4, rate: 100, seed: 2 });
      const name = serverName(`attach-${backend}`);
      const server = await localServer({ name, url: sim.url, universe: groupsOf(sim), backend, worker });
      await server.cache.warmup();
      const store = BookStore.attach(name);
      afterTest(() => store.close());
      expect(store.tokens().sort()).toEqual([...sim.tokens].sort());
      expect(store.backend).toBe(backend);
      expect(store.generation).toBe(1);
      const t = sim.tokens[0];
      await waitFor(() => store.get(t, 5000) !== null, 'an attached book');
      sim.setRate(0);
      // Once the flow stops, both sides serve the same book.
      await waitFor(() => {
        const a = store.get(t, 60_000);
        const b = server.cache.store.get(t, 60_000);
        return a !== null && b !== null && a.sequence === b.sequence;
      }, 'the same version on both sides');
      expect(store.get(t, 60_000)).toEqual({ ...server.cache.store.get(t, 60_000), ageMs: expect.any(Number) });
      const h = store.handle(t);
      expect(h.top(60_000)).toBe(true);
      expect(h.bidPrice).toBe(store.get(t, 60_000)?.bestBid);

      // Changes published by the server's writer (in its thread or its worker) wake this process's watch.
      const seen: BookChange[] = [];
      const stop = store.watch([t], (c) => seen.push(c));
      const it = store.changes([sim.tokens[1]]);
      sim.setRate(200);
      await waitFor(() => seen.length >= 3, 'watch notifications');
      const next = await it.next();
      expect(next.value?.tokenId).toBe(sim.tokens[1]);
      await it.return?.();
      stop();
      expect(seen.every((c) => c.tokenId === t && c.versions >= 1)).toBe(true);
      expect(store.metrics().hits).toBeGreaterThan(0);
    },
  );
});

describe('files and errors', () => {
  it('the table file and the socket are owner-only (0600)', async () => {
    const sim = await simulator({ markets: 1, rate: 0, seed: 2 });
    const name = serverName('modes');
    await localServer({ name, url: sim.url, universe: groupsOf(sim) });
    expect(statSync(tablePath(name)).mode & 0o777).toBe(0o600);
    expect(statSync(socketPath(name)).mode & 0o777).toBe(0o600);
    expect(statSync(socketPath(name)).isSocket()).toBe(true);
  });

  it('a second server under a live name is refused; a stopped server removes its names', async () => {
    const sim = await simulator({ markets: 1, rate: 0, seed: 2 });
    const name = serverName('twice');
    const first = await localServer({ name, url: sim.url, universe: groupsOf(sim) });
    expect(await rejectionCode(BookServer.start({ name, url: sim.url, stateFile: false }))).toBe(
      'POLYBOOK_SERVER_IN_USE',
    );
    const store = BookStore.attach(name);
    afterTest(() => store.close());
    const connected = await BookCache.connect(name);
    afterTest(() => connected.stop());
    // The server's feed stats reach this process through the table (published every 100 ms).
    await waitFor(() => connected.health().ok, 'a healthy connected cache');
    const heardByStore: BookChange[] = [];
    const heardByCache: BookChange[] = [];
    store.watch(sim.tokens, (c) => heardByStore.push(c));
    connected.watch(sim.tokens, (c) => heardByCache.push(c));
    await first.stop();
    expect(connected.health()).toMatchObject({ ok: false, reason: 'server_down' });
    // Watches hear the stop (within the attached store's 50 ms timer): every token once, not ready.
    const down = (heard: BookChange[]) => heard.filter((c) => !c.ready);
    await waitFor(
      () => down(heardByStore).length === sim.tokens.length && down(heardByCache).length === sim.tokens.length,
      'every watched token heard not ready',
    );
    // Once each: the stop invalidated the books (a change), and the heartbeat's NaN then said nothing new.
    for (const heard of [heardByStore, heardByCache]) {
      expect(new Set(down(heard).map((c) => c.tokenId))).toEqual(new Set(sim.tokens));
    }
    expect(() => statSync(tablePath(name))).toThrow();
    expect(() => statSync(socketPath(name))).toThrow();
    // A reader attached at the stop misses `server_down` at once.
    expect(store.get(sim.tokens[0], 60_000)).toBeNull();
    expect(store.handle(sim.tokens[0]).top(60_000)).toBe(false);
    expect(store.metrics().misses.server_down).toBe(2);
  });

  it('attaching to a missing name, to another layout version, to a file others can read, from the pure-TS backend', async () => {
    expect(codeOf(() => BookStore.attach(serverName('missing')))).toBe('POLYBOOK_SERVER_NOT_FOUND');
    expect(await rejectionCode(BookCache.connect(serverName('missing')))).toBe('POLYBOOK_SERVER_NOT_FOUND');
    expect(codeOf(() => BookStore.attach('../etc/passwd'))).toBe('POLYBOOK_CONFIG');

    // A table of another layout version.
    const name = serverName('layout');
    afterTest(() => removeServerFiles(name));
    const header = new Int32Array(HEADER_BYTES / 4 + 2048);
    header[0] = MAGIC;
    header[1] = LAYOUT_VERSION + 1;
    header[H_SERVER_STATE / 4] = SERVER_RUNNING;
    writeFileSync(tablePath(name), new Uint8Array(header.buffer), { mode: 0o600 });
    const e = (() => {
      try {
        BookStore.attach(name);
      } catch (x) {
        return x as Error & { code: string };
      }
    })();
    expect(e?.code).toBe('POLYBOOK_LAYOUT_MISMATCH');
    expect(e?.message).toMatch(
      new RegExp(
        `layout version ${LAYOUT_VERSION + 1}, and this polybook reads version ${LAYOUT_VERSION}: run the same polybook version`,
      ),
    );

    // Group and others could read it: refused, never mapped.
    chmodSync(tablePath(name), 0o644);
    expect(codeOf(() => BookStore.attach(name))).toBe('POLYBOOK_SERVER_UNSAFE');

    // The pure-TypeScript backend cannot map memory.
    const sim = await simulator({ markets: 1, rate: 0, seed: 2 });
    const live = serverName('js');
    await localServer({ name: live, url: sim.url, universe: groupsOf(sim) });
    expect(codeOf(() => BookStore.attach(live, { backend: 'js' }))).toBe('POLYBOOK_SHARED_MEMORY_UNSUPPORTED');
    vi.stubEnv('POLYBOOK_BACKEND', 'js');
    afterTest(() => vi.unstubAllEnvs());
    expect(codeOf(() => BookStore.attach(live))).toBe('POLYBOOK_SHARED_MEMORY_UNSUPPORTED');
    expect(await rejectionCode(BookCache.connect(live))).toBe('POLYBOOK_SHARED_MEMORY_UNSUPPORTED');
  });

  it('an attached store is read-only', async () => {
    const sim = await simulator({ markets: 1, rate: 0, seed: 2 });
    const name = serverName('readonly');
    await localServer({ name, url: sim.url, universe: groupsOf(sim) });
    const store = BookStore.attach(name);
    afterTest(() => store.close());
    expect(codeOf(() => store.subscribe(['1']))).toBe('POLYBOOK_INVALID_STATE');
    expect(codeOf(() => store.setDisabled(sim.tokens))).toBe('POLYBOOK_INVALID_STATE');
    expect(store.state(sim.tokens[0])?.disabled).toBe(false);
  });
});

describe('the state file', () => {
  it('a restarted server subscribes what it held, disabled tokens stay disabled, clients get a grace period', async () => {
    const sim = await simulator({ markets: 3, rate: 50, seed: 8 });
    const [own, theirs, dead] = groupsOf(sim);
    const name = serverName('state');
    const dir = mkdtempSync(join(tmpdir(), 'polybook-state-'));
    afterTest(() => rmSync(dir, { recursive: true, force: true }));
    const stateFile = join(dir, 'state.json');
    const first = await localServer({ name, url: sim.url, universe: [own, dead], stateFile });
    await first.cache.warmup();
    first.cache.store.setDisabled(dead.tokens);
    const client = await BookCache.connect(name, { universe: [theirs] });
    await client.warmup();
    await first.stop();
    await client.stop();
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(saved).toMatchObject({
      version: 1,
      name,
      generation: 1,
      own: [own, dead],
      clients: [theirs],
      disabled: dead.tokens,
    });

    const second = await localServer({ name, url: sim.url, universe: [own, dead], stateFile, restoreGraceMs: 300 });
    expect(second.restored).toBe(true);
    expect(second.generation).toBe(2);
    expect(second.cache.tokens().sort()).toEqual([...own.tokens, ...theirs.tokens, ...dead.tokens].sort());
    expect(second.cache.store.state(dead.tokens[0])?.disabled).toBe(true);
    // Nobody came back for the client's tokens within the grace period: released.
    await waitFor(() => second.cache.tokens().length === 4, "the clients' tokens released after the grace period");
    expect(second.cache.store.has(theirs.tokens[0])).toBe(false);

    // Another universe option: the state file is not used.
    await second.stop();
    const third = await localServer({ name, url: sim.url, universe: [own], stateFile });
    expect(third.restored).toBe(false);
    expect(third.cache.tokens()).toEqual(own.tokens);
  });
});
