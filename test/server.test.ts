/**
 * One feed for many processes (docs/SERVER.md): a book server in a child process, readers in
 * others, over loopback only. Both writer backends for the server; attaching is native only (the
 * pure-TypeScript backend cannot map memory: a typed error).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS } from './helpers.js';
import { remoteSimulator, simulator, groupsOf } from './rig.js';
import { eventually, serverName, startChild } from './server-rig.js';

const stateDir = mkdtempSync(join(tmpdir(), 'polybook-server-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

interface ReaderReport {
  firstServed: number;
  served: number;
  tops: number;
  crossed: number;
  maxLagMs: number;
  lastServedAt: number;
  lastServedGeneration: number;
  allDownSince: number;
  generation: number;
  serverUp: boolean;
  misses: Record<string, number>;
  versions?: [string, [number, number][]][];
}

/** Every version a reader was served must be one the server published, with the same levels. */
function checkVersions(
  truth: Map<string, Map<number, number>>,
  report: ReaderReport,
): { checked: number; wrong: number; unknown: number } {
  let checked = 0;
  let wrong = 0;
  let unknown = 0;
  for (const [token, versions] of report.versions ?? []) {
    const published = truth.get(token);
    for (const [sequence, digest] of versions) {
      const d = published?.get(sequence);
      if (d === undefined) unknown++;
      else if (d !== digest) wrong++;
      else checked++;
    }
  }
  return { checked, wrong, unknown };
}

describe.each(BACKENDS)('three reader processes, simulator at 20,000 frames/s (%s writer in the server)', (backend) => {
  it('no torn read, and every served book is a version the server published', async () => {
    const sim = await remoteSimulator({ markets: 20, rate: 20_000, seed: 9 });
    const name = serverName(`load-${backend}`);
    const universe = sim.markets.map((g) => ({ market: g.market as string, tokens: [...g.tokens] }));
    const tokens = universe.flatMap((g) => g.tokens);
    const server = await startChild({
      role: 'server',
      name,
      url: sim.url,
      universe,
      backend,
      stateFile: false,
      record: true,
    });
    await server.request('warm');
    const readers = await Promise.all(
      (['attach', 'connect', 'attach'] as const).map((mode) =>
        startChild({ role: 'reader', name, mode, tokens, universe: mode === 'connect' ? universe : undefined }),
      ),
    );
    // Read while the server ingests 20,000 frames (a second of the simulator's rate, if the machine keeps up).
    await eventually(async () => (await server.request<number>('frames')) >= 20_000, '20,000 frames', 60_000);
    const reports = await Promise.all(readers.map((r) => r.request<ReaderReport>('report', { versions: true })));
    const t = await server.request<{ frames: number; versions: [string, [number, number][]][] }>('truth');
    const truth = new Map(t.versions.map(([token, v]) => [token, new Map(v)]));
    for (const r of reports) {
      const c = checkVersions(truth, r);
      expect(r.crossed).toBe(0);
      expect(c.wrong).toBe(0);
      // A version the reader saw is always one the server recorded (it records after every frame).
      expect(c.unknown).toBe(0);
      expect(c.checked).toBeGreaterThan(1000);
      expect(r.tops).toBeGreaterThan(10_000);
    }
  }, 120_000);
});

describe.each(BACKENDS)('a server killed with kill -9, then restarted (%s writer; native in a worker)', (backend) => {
  it('readers miss server_down within the bound, then follow the restarted server, which resubscribes from its state file', async () => {
    const sim = await simulator({ markets: 10, rate: 300, seed: 5 });
    const name = serverName(`kill-${backend}`);
    const stateFile = join(stateDir, `${name}.json`);
    const config = {
      role: 'server' as const,
      name,
      url: sim.url,
      // Discovery at the first start; none at the restart (the state file has the universe).
      universe: { top: 10 },
      restUrl: sim.httpUrl,
      backend,
      worker: backend === 'native',
      stateFile,
    };
    const server = await startChild(config);
    await server.request('warm');
    const tokens = [...sim.tokens];
    const readers = await Promise.all(
      (['attach', 'connect'] as const).map((mode) =>
        startChild({
          role: 'reader',
          name,
          mode,
          tokens,
          universe: mode === 'connect' ? groupsOf(sim).slice(0, 2) : undefined,
        }),
      ),
    );
    const reports = () => Promise.all(readers.map((r) => r.request<ReaderReport>('report')));
    await eventually(async () => (await reports()).every((r) => r.served > 0), 'every reader serves books');
    const restBefore = sim.stats().restRequests;

    server.process.kill('SIGKILL');
    await server.exited;
    await eventually(
      async () => (await reports()).every((r) => r.allDownSince > 0),
      'every read of every reader misses server_down',
    );
    for (const r of await reports()) {
      // No read was served with a heartbeat older than the bound (200 ms) plus the watchdog's
      // period (20 ms) and a generous margin for a loaded machine.
      expect(r.maxLagMs).toBeLessThan(200 + 20 + 500);
      expect(r.misses.server_down).toBeGreaterThan(0);
      expect(r.serverUp).toBe(false);
    }

    // A strategy starting now, against the dead server's file: nothing served.
    const late = await startChild<{ firstServed: number }>({ role: 'reader', name, mode: 'attach', tokens });
    expect(late.ready.firstServed).toBe(0);

    const restarted = await startChild(config);
    expect(restarted.ready).toMatchObject({ generation: 2, restored: true });
    await restarted.request('warm');
    // The universe came from the state file: no discovery request.
    expect(sim.stats().restRequests).toBe(restBefore);
    await eventually(
      async () => (await reports()).every((r) => r.lastServedGeneration === 2 && r.serverUp),
      'every reader serves books of the restarted server',
    );
    // The connected reader reconnected by itself and asked for its tokens again.
    await eventually(async () => {
      const held = await restarted.request<{ clients: { tokens: number }[] }>('tokens');
      return held.clients.some((c) => c.tokens === 4);
    }, 'the connected reader holds its tokens on the restarted server');
  }, 90_000);
});

describe('clients and their tokens', () => {
  it('a reader killed while holding tokens releases them; a restarted reader serves its first read at once', async () => {
    const sim = await simulator({ markets: 12, rate: 200, seed: 6 });
    const groups = groupsOf(sim);
    const own = groups.slice(0, 6);
    const extra = groups.slice(6);
    const name = serverName('refs');
    const server = await startChild({
      role: 'server',
      name,
      url: sim.url,
      universe: own,
      backend: 'js',
      stateFile: false,
    });
    await server.request('warm');
    const tokensOf = (g: typeof groups) => g.flatMap((x) => x.tokens);
    const held = () => server.request<{ held: string[]; clients: { pid: number; tokens: number }[] }>('tokens');

    const a = await startChild({ role: 'reader', name, mode: 'connect', tokens: tokensOf(extra), universe: extra });
    expect((await held()).held).toHaveLength(24);
    expect((await held()).clients).toEqual([{ id: 1, pid: a.process.pid, tokens: 12 }]);
    a.process.kill('SIGKILL');
    await a.exited;
    await eventually(async () => (await held()).held.length === 12, "the killed reader's tokens released");
    expect((await held()).clients).toEqual([]);

    // A strategy restarted against a warm server: its first reads, right after connect, are served.
    const b = await startChild<{ firstServed: number }>({
      role: 'reader',
      name,
      mode: 'connect',
      tokens: tokensOf(own),
      universe: own,
    });
    expect(b.ready.firstServed).toBe(12);
  }, 60_000);

  it('a reader connected by a discovery query holds what the server found; killed, its tokens are released', async () => {
    const sim = await simulator({ markets: 6, rate: 100, seed: 9 });
    const top = [...sim.markets].sort((a, b) => b.volume24h - a.volume24h).slice(0, 3);
    const own = groupsOf(sim).filter((g) => !top.some((m) => m.conditionId === g.market));
    const name = serverName('query');
    const server = await startChild({
      role: 'server',
      name,
      url: sim.url,
      universe: own,
      backend: 'js',
      stateFile: false,
    });
    await server.request('warm');
    const held = () => server.request<{ held: string[]; clients: { pid: number; tokens: number }[] }>('tokens');
    const wanted = top.flatMap((m) => m.tokens);
    const r = await startChild<{ held: string[]; markets: (string | null)[] }>({
      role: 'reader',
      name,
      mode: 'connect',
      tokens: wanted,
      universe: { top: 3 },
    });
    expect([...r.ready.held].sort()).toEqual([...wanted].sort());
    expect(new Set(r.ready.markets)).toEqual(new Set(top.map((m) => m.conditionId)));
    expect((await held()).held.sort()).toEqual([...own.flatMap((g) => g.tokens), ...wanted].sort());
    expect((await held()).clients).toEqual([{ id: 1, pid: r.process.pid, tokens: 6 }]);
    r.process.kill('SIGKILL');
    await r.exited;
    await eventually(async () => (await held()).clients.length === 0, 'the killed reader gone');
    expect((await held()).held.sort()).toEqual(own.flatMap((g) => g.tokens).sort());
  }, 60_000);
});
