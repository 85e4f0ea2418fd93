/**
 * `polybook serve` and `polybook watch --attach` as a person uses them: the built bin in two
 * processes, the server on its built-in simulator.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { tablePath, socketPath } from '../src/server/memory.js';
import { PROMETHEUS_CONTENT_TYPE } from '../src/cache/prometheus.js';
import type { CacheHealth } from '../src/cache/health.js';
import { afterTest } from './rig.js';
import { eventually, removeServerFiles, serverName } from './server-rig.js';
import { waitFor } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/polybook.js', import.meta.url));

function command(args: string[]): {
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
  kill: (s: NodeJS.Signals) => void;
} {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, POLYBOOK_BACKEND: '' } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const done = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  afterTest(async () => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await done;
  });
  return { out: () => out, err: () => err, done, kill: (s) => p.kill(s) };
}

/** A loopback port nothing listens on now (the OS picks it; closed before it is handed out). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** GET /metrics: checks the content type and parses the exposition by family name. */
async function scrape(base: string): Promise<Map<string, ParsedFamily>> {
  const r = await fetch(`${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
  return new Map(parsePrometheusTextFormat(await r.text()).map((f) => [f.name, f]));
}

/** The value of an unlabelled (or `labels`-matching) sample. */
function sample(p: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const s = p.get(name)?.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels));
  if (s?.value === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the exposition`);
  return Number(s.value);
}

/** GET /healthz: its status and JSON body. */
async function healthz(base: string): Promise<{ status: number; type: string | null; body: CacheHealth }> {
  const r = await fetch(`${base}/healthz`);
  return { status: r.status, type: r.headers.get('content-type'), body: (await r.json()) as CacheHealth };
}

describe('polybook serve', () => {
  it('prints where it listens and how to attach; watch --attach shows its books; Ctrl-C removes the names', async () => {
    const name = serverName('cli');
    afterTest(() => removeServerFiles(name));
    const server = command(['serve', '--name', name, '--markets', '5', '--rate', '50', '--no-state']);
    await waitFor(() => server.out().includes('Ctrl-C stops'), 'the server to say how to attach', 30_000);
    expect(server.out()).toContain(`books:   ${tablePath(name)}`);
    expect(server.out()).toContain(`control: ${socketPath(name)}`);
    expect(server.out()).toContain(`polybook watch --attach ${name}`);
    expect(server.out()).toContain(`BookCache.connect('${name}'`);

    const watch = command(['watch', '--attach', name, '--json', '--duration', '2']);
    expect(await watch.done).toBe(0);
    const lines = watch
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    expect(last.total).toBe(10);
    expect(last.ready).toBe(10);
    expect(Object.values(last.books).filter((b) => (b as { bestBid: number | null }).bestBid !== null).length).toBe(10);
    expect(watch.err()).toContain(`attached to book server "${name}"`);

    server.kill('SIGINT');
    expect(await server.done).toBe(0);
    expect(server.out()).toMatch(/server ".*" stopped: 10\/10 ready/);
    expect(existsSync(tablePath(name))).toBe(false);
    expect(existsSync(socketPath(name))).toBe(false);
  }, 60_000);

  it("serve --metrics-port serves the server's /metrics and /healthz; watch --attach --metrics-port its reader's, 503 server_down once the server stops", async () => {
    const name = serverName('cli-metrics');
    afterTest(() => removeServerFiles(name));
    const port = await freePort();
    const server = command([
      'serve',
      '--name',
      name,
      '--markets',
      '3',
      '--rate',
      '50',
      '--no-state',
      '--metrics-port',
      String(port),
      '--metrics-host',
      '127.0.0.1',
    ]);
    await waitFor(() => server.out().includes('Ctrl-C stops'), 'the server to say where it serves', 30_000);
    const base = `http://127.0.0.1:${port}`;
    expect(server.out()).toContain(`  metrics: ${base}/metrics, health ${base}/healthz`);
    // Healthy once its warmup completed and its feed connection is open.
    await eventually(async () => (await healthz(base)).status === 200, "the server's /healthz to say 200");
    const health = await healthz(base);
    expect(health.type).toBe('application/json; charset=utf-8');
    expect(health.body).toMatchObject({
      ok: true,
      reason: null,
      tradingEnabled: true,
      tokens: 6,
      readyTokens: 6,
      connections: 1,
      openConnections: 1,
    });
    // The server's own series: its feed (one open connection, frames it ingested) and its books.
    await eventually(async () => sample(await scrape(base), 'polybook_writer_frames_total') > 0, 'frames ingested');
    const served = await scrape(base);
    expect(sample(served, 'polybook_ws_open_connections')).toBe(1);
    expect(sample(served, 'polybook_ws_tokens')).toBe(6);
    expect(sample(served, 'polybook_tokens')).toBe(6);
    expect(sample(served, 'polybook_ready_tokens')).toBe(6);
    expect(sample(served, 'polybook_trading_enabled')).toBe(1);
    expect(served.get('polybook_writer_frames_total')?.type).toBe('COUNTER');

    // A reader process's endpoints: its reads, the server's feed stats, its health.
    const watch = command(['watch', '--attach', name, '--json', '--metrics-port', '0', '--duration', '60']);
    await waitFor(
      () => /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/.test(watch.err()),
      "the reader's metrics URL",
      30_000,
    );
    const reader = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics, health on \1\/healthz/.exec(
      watch.err(),
    )?.[1] as string;
    await eventually(async () => (await healthz(reader)).status === 200, "the reader's /healthz to say 200");
    await eventually(
      async () => sample(await scrape(reader), 'polybook_reads_total', { result: 'hit' }) > 0,
      'reads served in the reader',
    );
    const read = await scrape(reader);
    expect(sample(read, 'polybook_tokens')).toBe(6);
    expect(sample(read, 'polybook_ws_open_connections')).toBe(1);
    expect(sample(read, 'polybook_writer_frames_total')).toBeGreaterThan(0);

    server.kill('SIGINT');
    expect(await server.done).toBe(0);
    expect(existsSync(tablePath(name))).toBe(false);
    expect(existsSync(socketPath(name))).toBe(false);
    // The reader runs on and says why it serves nothing: not the dead server's last figures.
    await eventually(async () => (await healthz(reader)).status === 503, "the reader's /healthz to say 503");
    expect((await healthz(reader)).body).toMatchObject({
      ok: false,
      reason: 'server_down',
      readyTokens: 0,
      openConnections: 0,
    });
    await eventually(
      async () => sample(await scrape(reader), 'polybook_reads_total', { result: 'server_down' }) > 0,
      'reads missing server_down',
    );
    expect(sample(await scrape(reader), 'polybook_ready_tokens')).toBe(0);
    watch.kill('SIGINT');
    expect(await watch.done).toBe(0);
  }, 90_000);

  it('--help says how to serve and attach', async () => {
    const serve = command(['serve', '--help']);
    expect(await serve.done).toBe(0);
    expect(serve.out()).toMatch(/Usage: polybook serve --name NAME/);
    const watch = command(['watch', '--help']);
    expect(await watch.done).toBe(0);
    expect(watch.out()).toMatch(/--attach NAME/);
  });

  it('refuses bad usage with exit code 2', async () => {
    const none = command(['serve']);
    expect(await none.done).toBe(2);
    expect(none.err()).toContain('serve needs --name NAME');
    const bad = command(['serve', '--name', '../x']);
    expect(await bad.done).toBe(2);
    const mixed = command(['watch', '--attach', 'x', '--markets', '5']);
    expect(await mixed.done).toBe(2);
    expect(mixed.err()).toContain('--markets belongs to');
    const missing = command(['watch', '--attach', serverName('none')]);
    expect(await missing.done).toBe(1);
    expect(missing.err()).toContain('no book server named');
  }, 60_000);
});
