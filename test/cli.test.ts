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
    // The top-of-book rows show prices, not skips.
    expect(screen.split('\n').filter((l) => /^\s+\d{6}…\d{6}\s+0\.\d{3}/.test(l)).length).toBe(8);
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

    const needTokens = await run(['watch', '--live']);
    expect(needTokens.code).toBe(2);
    expect(needTokens.stderr).toMatch(/--live needs --tokens/);
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
