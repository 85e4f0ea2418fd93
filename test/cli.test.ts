/**
 * The `polybook` command as a person uses it: the built bin in a pseudo-terminal, `watch --json`
 * against a simulator, record and replay, and the errors a person can act on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { levelSize } from '../src/tools/dashboard.js';

const BIN = fileURLToPath(new URL('../bin/polybook.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'polybook-cli-'));
/** Terminal escape sequences (ESC [ ... letter) in the pseudo-terminal output. */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, 'g');

function run(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, POLYBOOK_BACKEND: '' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Strips ANSI escapes and returns the last full dashboard frame a terminal would show. */
function lastScreen(raw: string): string {
  const frames = raw.split('\x1b[H\x1b[2J');
  // The final summary line is printed after the alternate screen is left; keep the last frame.
  return frames[frames.length - 1].replace(ANSI_ESCAPE, '');
}

describe('polybook CLI', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ markets: 6, rate: 0, seed: 7 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('shows the dashboard in a terminal: warmup, then ready books, hit rate and busiest books', () => {
    // `script` gives the command a real pseudo-terminal, as a person's shell would.
    const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} --markets 20 --duration 4`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, POLYBOOK_BACKEND: '' },
    });
    expect(r.status).toBe(0);
    const screen = lastScreen(r.stdout);
    expect(screen).toMatch(/Ready\s+█+\s+40\/40 \(100\.0%\)\s+trading on/);
    expect(screen).toMatch(/hit rate 100\.00%/);
    expect(screen).toMatch(/Served age/);
    expect(screen).toMatch(/Busiest books/);
    expect(screen).toMatch(/Health\s+reconnects 0\s+stalls 0\s+desyncs 0/);
    expect(screen).toMatch(/backend native/);
    // The top-of-book rows name each book by outcome and question, and show prices, not skips.
    const rows = screen.split('\n').filter((l) => /^ {2}\S[^·]* · .+ {2}0\.\d{3} \(/.test(l));
    expect(rows.length).toBe(8);
    expect(rows.some((l) => /^ {2}(Yes|No|Up|Down) · /.test(l))).toBe(true);
    expect(r.stdout).toMatch(/polybook: 40\/40 ready, hit rate 100\.00%/);
  });

  it('watch --json prints one object per second that agrees with the books the simulator sent', async () => {
    const tokens = sim.tokens.slice(0, 6);
    const r = await run(['watch', '--url', sim.url, '--tokens', tokens.join(','), '--json', '--duration', '2.5']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const last = lines.at(-1);
    expect(last).toMatchObject({ ready: 6, total: 6, reconnects: 0 });
    expect(last.hitRate).toBeGreaterThan(0);
    for (const id of tokens) {
      const truth = sim.book(id);
      expect(last.books[id]).toMatchObject({ bestBid: Number(truth.bestBid), bestAsk: Number(truth.bestAsk) });
      expect(last.books[id].ageMs).toBeGreaterThanOrEqual(0);
      // Given by token id, a book has no market description (no discovery); the REST books of the
      // warmup bring what an order needs (and the server-hash check).
      const facts = sim.token(id)!;
      expect(last.books[id]).toMatchObject({
        question: null,
        outcome: null,
        tickSize: facts.tickSize,
        minOrderSize: Number(facts.minOrderSize),
        negRisk: facts.negRisk,
      });
    }
  });

  it('watch --metrics-port serves /metrics and /healthz on loopback while it runs', async () => {
    const tokens = sim.tokens.slice(0, 4);
    const p = spawn(
      process.execPath,
      [
        BIN,
        'watch',
        '--url',
        sim.url,
        '--tokens',
        tokens.join(','),
        '--json',
        '--metrics-port',
        '0',
        '--duration',
        '60',
      ],
      { env: { ...process.env, POLYBOOK_BACKEND: '' } },
    );
    const exited = new Promise<number | null>((r) => p.on('close', r));
    try {
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      const base = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no metrics URL on stderr: ${stderr}`)), 30_000);
        const check = () => {
          const m = /^polybook: metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics, health on \1\/healthz$/m.exec(stderr);
          if (!m) return;
          clearTimeout(t);
          resolve(m[1]);
        };
        p.stderr.on('data', check);
        check();
      });
      // Healthy once warmup completed (polling the endpoint for that state, bounded).
      const end = Date.now() + 30_000;
      let health = await fetch(`${base}/healthz`);
      while (health.status !== 200 && Date.now() < end) {
        await health.text();
        await new Promise((r) => setTimeout(r, 20));
        health = await fetch(`${base}/healthz`);
      }
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true, tokens: 4, readyTokens: 4, openConnections: 1 });
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await metrics.text();
      expect(text).toMatch(/^polybook_tokens 4$/m);
      expect(text).toMatch(/^polybook_trading_enabled 1$/m);
      expect(text).toMatch(/^polybook_reads_total\{result="hit"\} \d+$/m);
    } finally {
      p.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('--metrics-port errors: a port in use, a host without a port, a bad port', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const inUse = await run([
        'watch',
        '--url',
        sim.url,
        '--tokens',
        sim.tokens[0],
        '--json',
        '--metrics-port',
        String(port),
      ]);
      expect(inUse.code).toBe(1);
      expect(inUse.stderr).toMatch(
        new RegExp(`^polybook: cannot serve metrics on 127\\.0\\.0\\.1:${port}: the port is in use`, 'm'),
      );
      expect(inUse.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
    const hostOnly = await run(['watch', '--metrics-host', '0.0.0.0']);
    expect(hostOnly.code).toBe(2);
    expect(hostOnly.stderr).toMatch(/--metrics-host needs --metrics-port P/);
    const bad = await run(['watch', '--metrics-port', '70000']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--metrics-port must be an integer from 0 to 65535, got "70000"/);
    const help = await run(['watch', '--help']);
    expect(help.stdout).toMatch(/--metrics-port P/);
    expect(help.stdout).toMatch(/--metrics-host H .*default 127\.0\.0\.1/);
  });

  it('a recording replays to identical books and counters, twice and on both backends', async () => {
    const file = join(dir, 'session.pbrec.gz');
    const live = await startSimulator({ markets: 4, rate: 300, seed: 3 });
    try {
      const rec = await run([
        'record',
        '--out',
        file,
        '--url',
        live.url,
        '--tokens',
        live.tokens.join(','),
        '--duration',
        '2',
      ]);
      expect(rec.code).toBe(0);
      expect(rec.stdout).toMatch(/recorded \d+ frames/);
    } finally {
      await live.close();
    }
    const a = await run(['replay', file, '--json', '--backend', 'native']);
    const b = await run(['replay', file, '--json', '--backend', 'native']);
    const c = await run(['replay', file, '--json', '--backend', 'js']);
    expect(a.code).toBe(0);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(b.stdout);
    const rc = JSON.parse(c.stdout);
    expect(rb).toEqual(ra);
    expect({ ...rc, backend: 'native' }).toEqual(ra);
    expect(ra.frames).toBeGreaterThan(10);
    expect(Object.keys(ra.books)).toHaveLength(8);
    expect(ra.counters.snapshotsApplied).toBeGreaterThanOrEqual(8);
    expect(ra.counters.deltasApplied).toBeGreaterThan(0);
    const ready = Object.values(ra.books).filter((x: any) => x.ready);
    expect(ready.length).toBe(8);
    const text = await run(['replay', file]);
    expect(text.stdout).toMatch(/replayed \d+ frames on the native backend/);
    expect(text.stdout).toMatch(/snapshotsApplied/);
  });

  it('errors a person can act on, with exit codes scripts can rely on', async () => {
    const bad = await run(['watch', '--frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--frobnicate'.*See 'polybook watch --help'/);
    expect(bad.stderr).not.toMatch(/at .*\.js:\d+/);

    const unknown = await run(['dance']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "dance"/);

    const missing = await run(['replay', join(dir, 'nope.gz')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read recording .*nope\.gz: ENOENT/);

    const notRec = join(dir, 'not-a-recording.gz');
    writeFileSync(notRec, 'hello');
    const garbage = await run(['replay', notRec]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/is not a polybook recording/);

    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const inUse = await run(['simulate', '--port', String(port), '--duration', '1']);
    busy.close();
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(new RegExp(`port ${port} is in use; choose another with --port`));

    // Nothing listens there: retries are shown, no stack trace, exit 1.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const dead = await run([
      'watch',
      '--url',
      `ws://127.0.0.1:${deadPort}/ws/market`,
      '--tokens',
      '1,2',
      '--json',
      '--duration',
      '2',
    ]);
    expect(dead.code).toBe(1);
    expect(dead.stderr).toMatch(/no book arrived from ws:\/\/127\.0\.0\.1:\d+\/ws\/market \(\d+ reconnect attempts\)/);
    expect(dead.stderr).not.toMatch(/\n\s+at /);

    const both = await run(['watch', '--live', '--tokens', '1', '--top', '3']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--tokens cannot be combined with --slug, --market, --top or --tag/);
    const badTop = await run(['watch', '--top', '0']);
    expect(badTop.code).toBe(2);
    expect(badTop.stderr).toMatch(/--top must be an integer from 1 to 10000/);

    // The REST APIs follow the feed URL: nothing listens there either, a typed network error, exit 1.
    const noRest = await run(['watch', '--url', `ws://127.0.0.1:${deadPort}/ws/market`, '--top', '3', '--json']);
    expect(noRest.code).toBe(1);
    expect(noRest.stderr).toMatch(
      new RegExp(
        `finding markets on http://127\\.0\\.0\\.1:${deadPort}[\\s\\S]*GET http://127\\.0\\.0\\.1:${deadPort}/markets/keyset.* failed \\(refused`,
      ),
    );
    expect(noRest.stderr).not.toMatch(/\n\s+at /);
  });

  it('watch --slug and --top select markets by name on the built-in simulator; the JSON names each book', async () => {
    // seed 7, 8 markets: a three-market neg-risk event (the simulator's catalog is seeded).
    const ref = await startSimulator({ markets: 8, rate: 0, seed: 7 });
    const event = ref.markets.find((m) => m.eventSlug !== m.slug)!.eventSlug;
    const members = ref.markets.filter((m) => m.eventSlug === event);
    const top = [...ref.markets].sort((a, b) => b.volume24h - a.volume24h).slice(0, 2);
    await ref.close();
    expect(members.length).toBe(3);

    const bySlug = await run(['watch', '--slug', event, '--seed', '7', '--markets', '8', '--json', '--duration', '2']);
    expect(bySlug.code).toBe(0);
    expect(bySlug.stderr).toMatch(/following 3 markets \(6 tokens\)/);
    const last = JSON.parse(bySlug.stdout.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ ready: 6, total: 6 });
    expect(Object.keys(last.books).sort()).toEqual(members.flatMap((m) => m.tokens).sort());
    for (const m of members) {
      expect(last.books[m.yes]).toMatchObject({ question: m.question, outcome: 'Yes' });
      expect(last.books[m.no]).toMatchObject({ question: m.question, outcome: 'No' });
      expect(typeof last.books[m.yes].bestBid).toBe('number');
    }

    const byTop = await run(['watch', '--top', '2', '--seed', '7', '--markets', '8', '--json', '--duration', '2']);
    expect(byTop.code).toBe(0);
    const t = JSON.parse(byTop.stdout.trim().split('\n').at(-1)!);
    expect(Object.keys(t.books).sort()).toEqual(top.flatMap((m) => m.tokens).sort());
    expect(t.books[top[0]!.no]).toMatchObject({ question: top[0]!.question, outcome: top[0]!.outcomes[1] });

    const unknown = await run(['watch', '--slug', 'no-such-event', '--markets', '4', '--json', '--duration', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/slug "no-such-event": no open event or market has it/);
  });

  it('watch --url with --market and record --top follow the feed URL to its REST APIs', async () => {
    const m = sim.markets[3]!;
    const watched = await run(['watch', '--url', sim.url, '--market', m.conditionId, '--json', '--duration', '1.5']);
    expect(watched.code).toBe(0);
    const last = JSON.parse(watched.stdout.trim().split('\n').at(-1)!);
    expect(Object.keys(last.books).sort()).toEqual([...m.tokens].sort());
    expect(last.books[m.yes]).toMatchObject({ question: m.question, outcome: m.outcomes[0] });

    const file = join(dir, 'top.pbrec.gz');
    const rec = await run(['record', '--out', file, '--url', sim.url, '--top', '2', '--duration', '1']);
    expect(rec.code).toBe(0);
    expect(rec.stderr).toMatch(/following 2 markets \(4 tokens\)/);
    const replayed = JSON.parse((await run(['replay', file, '--json'])).stdout);
    const top = [...sim.markets].sort((a, b) => b.volume24h - a.volume24h).slice(0, 2);
    expect(Object.keys(replayed.books).sort()).toEqual(top.flatMap((x) => x.tokens).sort());
  });

  it('--help for each command, with examples', async () => {
    for (const cmd of ['watch', 'simulate', 'record', 'replay', 'bench']) {
      const r = await run([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: polybook ${cmd}`));
    }
    const main = await run(['--help']);
    expect(main.stdout).toMatch(/Exit codes: 0 done, 1 runtime failure, 2 usage error/);
  });
});

describe('dashboard sizes', () => {
  it('keeps the hundredths of small sizes and groups large ones', () => {
    expect(levelSize(0.4)).toBe('0.4');
    expect(levelSize(12.57)).toBe('12.57');
    expect(levelSize(5455)).toBe('5,455');
    expect(levelSize(1234567.8)).toBe('1,234,568');
  });
});
