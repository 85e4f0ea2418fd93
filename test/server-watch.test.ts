/**
 * Watches across a book server's death and return (docs/SERVER.md, "what happens when either side
 * dies"): reader processes that only watch (`store.watch`, `cache.watch`, `cache.changes`) hear
 * every watched token go `ready: false` once when the server stalls or is killed, and `ready: true`
 * once when it is back (the same server resuming, or a restarted one followed), without restarting.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preciseNow } from '../src/table/clock.js';
import { DEFAULT_SERVER_TIMEOUT_MS, MAINTAIN_MS, WATCHDOG_SLACK_MS } from '../src/server/attached.js';
import type { CacheHealth } from '../src/cache/health.js';
import { BookStore } from '../src/table/store.js';
import { groupsOf, simulator } from './rig.js';
import { eventually, serverName, startChild } from './server-rig.js';
import type { Heard } from './server-child.js';
import type { MarketGroup } from '../src/cache/universe.js';

const stateDir = mkdtempSync(join(tmpdir(), 'polybook-server-watch-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface Watched {
  heard: Heard[];
  iterated: Heard[];
  health: CacheHealth | null;
}

/** The documented bound: the heartbeat's timeout, the watchdog's period, the attached store's timer. */
const BOUND_MS = DEFAULT_SERVER_TIMEOUT_MS + WATCHDOG_SLACK_MS + MAINTAIN_MS;
/** Scheduling on a loaded shared machine (the bound is not what this test measures finely). */
const MARGIN_MS = 1500;

/** A native server child of `groups` on the simulator at `url`, with a state file (restarts resubscribe). */
function nativeServer(name: string, url: string, groups: MarketGroup[]) {
  return {
    role: 'server' as const,
    name,
    url,
    universe: groups,
    backend: 'native' as const,
    stateFile: join(stateDir, `${name}.json`),
  };
}

/** Rejects when a child does not answer within `ms` (a reader spinning in a read never answers). */
function answered<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

interface ReaderReport {
  served: number;
  allDownSince: number;
  lastServedGeneration: number;
  serverUp: boolean;
  misses: Record<string, number>;
}

describe('watchers of a book server that dies and comes back', () => {
  it('hear ready:false once per token within the bound, and ready:true once it is back (stalled, then killed and restarted)', async () => {
    const sim = await simulator({ markets: 4, rate: 50, seed: 11 });
    const name = serverName('watch');
    const groups = groupsOf(sim).slice(0, 2);
    const tokens = groups.flatMap((g) => g.tokens);
    const config = nativeServer(name, sim.url, groups);
    let server = await startChild(config);
    await server.request('warm');
    const readers = await Promise.all(
      (['attach', 'connect'] as const).map((mode) =>
        startChild({
          role: 'reader',
          name,
          mode,
          tokens,
          universe: mode === 'connect' ? groups : undefined,
          watch: true,
        }),
      ),
    );
    const watched = () => Promise.all(readers.map((r) => r.request<Watched>('watched')));
    /** Per reader and list (`heard`, and `iterated` of the connected one): the notifications since `t`. */
    const lists = (w: Watched[]) => w.flatMap((x) => (x.health ? [x.heard, x.iterated] : [x.heard]));
    const since = (list: Heard[], t: number, token: string) => list.filter((h) => h.tokenId === token && h.at > t);
    const last = (list: Heard[], token: string) => list.filter((h) => h.tokenId === token).at(-1);
    const health = async () => (await watched()).find((w) => w.health)?.health as CacheHealth;
    /** Waits until every watched token's latest notification, in every list, says `ready`, and was heard after `t`. */
    const allHeard = (ready: boolean, t: number, what: string) =>
      eventually(async () => {
        const w = await watched();
        return lists(w).every((l) => tokens.every((tk) => last(l, tk)?.ready === ready && (last(l, tk)?.at ?? 0) > t));
      }, what);
    /** Every list heard exactly one `ready: false` per token in `[from, to]`, within the bound of `from`. */
    const checkDown = async (from: number, to: number) => {
      for (const l of lists(await watched())) {
        for (const tk of tokens) {
          const down = since(l, from, tk).filter((h) => h.at <= to && !h.ready);
          expect(down).toHaveLength(1);
          expect(down[0].versions).toBe(0);
          expect(down[0].at - from).toBeLessThan(BOUND_MS + MARGIN_MS);
        }
      }
    };

    await allHeard(true, 0, 'every watched token heard ready');
    await eventually(async () => (await health()).ok, 'the connected cache healthy');

    // 1. The server stalls (SIGSTOP: its heartbeat stops), then resumes (the same server, the same table).
    const stoppedAt = preciseNow();
    server.process.kill('SIGSTOP');
    await allHeard(false, stoppedAt, 'every watched token heard not ready while the server is stopped');
    expect(await health()).toMatchObject({ ok: false, reason: 'server_down' });
    const resumedAt = preciseNow();
    server.process.kill('SIGCONT');
    await allHeard(true, resumedAt, 'every watched token heard ready once the server resumed');
    await checkDown(stoppedAt, resumedAt);
    await eventually(async () => (await health()).ok, 'the connected cache healthy again');

    // 2. The server is killed, then a new one starts under the name (restored from its state file).
    const killedAt = preciseNow();
    server.process.kill('SIGKILL');
    await server.exited;
    await allHeard(false, killedAt, 'every watched token heard not ready after kill -9');
    expect(await health()).toMatchObject({ ok: false, reason: 'server_down' });
    const restartedAt = preciseNow();
    // One notification per token, not a storm: nothing more while the server is dead.
    await checkDown(killedAt, restartedAt);
    server = await startChild(config);
    expect(server.ready).toMatchObject({ generation: 2, restored: true });
    await server.request('warm');
    await allHeard(true, restartedAt, 'every watched token heard ready from the restarted server');
    await eventually(async () => (await health()).ok, 'the connected cache healthy with the restarted server');
  }, 90_000);
});

describe('a server killed in the middle of a write', () => {
  it('leaves a slot odd for good: readers miss server_down instead of retrying forever, watchers hear it, and both follow the next server', async () => {
    const sim = await simulator({ markets: 2, rate: 50, seed: 12 });
    const name = serverName('torn');
    const groups = groupsOf(sim);
    const tokens = groups.flatMap((g) => g.tokens);
    const config = nativeServer(name, sim.url, groups);
    const server = await startChild(config);
    await server.request('warm');
    const reading = await startChild({ role: 'reader', name, mode: 'attach', tokens });
    const watching = await startChild({ role: 'reader', name, mode: 'attach', tokens, watch: true });
    const report = () => answered(reading.request<ReaderReport>('report'), 5000, 'the reading process');
    const heard = async () => (await answered(watching.request<Watched>('watched'), 5000, 'the watcher')).heard;
    await eventually(async () => (await report()).served > 0, 'books served');
    await eventually(async () => (await heard()).some((h) => h.tokenId === tokens[0] && h.ready), 'heard ready');

    // Freeze the server, leave the first token's slot in the middle of a write (seq odd), kill it.
    server.process.kill('SIGSTOP');
    const store = BookStore.attach(name);
    const slot = store.slotOf(tokens[0]);
    Atomics.add(new Int32Array(store.table), store.reader.base32(slot), 1);
    store.close();
    const killedAt = preciseNow();
    server.process.kill('SIGKILL');
    await server.exited;

    // Reads of every token, the torn one included, miss server_down; the process keeps answering.
    await eventually(async () => (await report()).allDownSince > 0, 'every read missing server_down');
    expect((await report()).misses.server_down).toBeGreaterThan(0);
    await eventually(async () => {
      const list = await heard();
      return tokens.every((t) => list.some((h) => h.tokenId === t && !h.ready && h.at > killedAt));
    }, 'every watched token heard not ready');

    const restarted = await startChild(config);
    await restarted.request('warm');
    await eventually(
      async () => (await report()).lastServedGeneration === 2,
      'the reading process serving the restarted server',
    );
    await eventually(async () => {
      const list = await heard();
      return tokens.every((t) => {
        const last = list.filter((h) => h.tokenId === t).at(-1);
        return last?.ready === true && last.at > killedAt;
      });
    }, 'every watched token heard ready from the restarted server');
  }, 90_000);
});
