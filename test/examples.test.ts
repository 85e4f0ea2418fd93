/**
 * The examples as a user runs them: each one as a child process (`tsx`, importing `'polybook'`),
 * for a short duration, against the simulator, with its output checked.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { afterTest, simulator } from './rig.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs `examples/<name>` with tsx; killed after the test if it is still running. */
function runExample(
  name: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', `examples/${name}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, POLYBOOK_BACKEND: '', ...env },
  });
  afterTest(() => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Whether `price` is a whole number of `tick`s. */
const onTick = (price: number, tick: number) => Math.abs(price / tick - Math.round(price / tick)) < 1e-9;

describe('examples', () => {
  it.each([
    ['latency-arb.ts', /\[latency-arb\] \d+ ms, budget 250 ms: ticks=[1-9]\d* traded=\d+/],
    ['slow-strategy.ts', /\[slow-strategy\] \d+ ms: changes watched=[1-9]\d* evaluations=[1-9]/],
    ['shared-cache.ts', /\[cache\] reads=[1-9]\d* hit rate=/],
  ])(
    '%s runs against the built-in simulator',
    async (name, expected) => {
      const r = await runExample(name, [], { EXAMPLE_MS: '1200' });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\[cache\] (native|js) backend, warm: \d+\/\d+ ready/);
      expect(r.stdout).toMatch(expected);
    },
    60_000,
  );

  it('many-processes.ts serves two strategy processes from one book server and releases their tokens', async () => {
    const r = await runExample('many-processes.ts', [], { EXAMPLE_MS: '1500' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const held = /server "[^"]+": (\d+) tokens/.exec(r.stdout);
    const during = /server: (\d+) tokens while 2 strategies run/.exec(r.stdout);
    const after = /server: (\d+) tokens once they exited/.exec(r.stdout);
    expect(held && during && after).toBeTruthy();
    // Each strategy's markets are added while it runs and released when it exits.
    expect(Number(during![1])).toBeGreaterThan(Number(held![1]));
    expect(Number(after![1])).toBe(Number(held![1]));
    for (const n of [1, 2]) expect(r.stdout).toMatch(new RegExp(`strategy ${n}: \\d+ tokens, [1-9]\\d* quotes`));
  }, 60_000);

  it('quote.ts prints signed orders on the tick, with the tick size and neg risk of the book', async () => {
    const sim = await simulator({ markets: 6, seed: 3, rate: 50 });
    // Markets of both kinds: neg risk or not, tick 0.01 or 0.001.
    const neg = sim.markets.find((m) => m.negRisk && m.tickSize === '0.001')!;
    const plain = sim.markets.find((m) => !m.negRisk)!;
    expect(neg && plain).toBeTruthy();
    const r = await runExample('quote.ts', ['--url', sim.url, '--market', `${neg.conditionId},${plain.conditionId}`], {
      EXAMPLE_MS: '1500',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/dry run: orders are printed, not posted; 2 market\(s\)/);
    const orders = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const tokens = new Set(orders.map((o) => o.tokenId));
    expect(tokens).toEqual(new Set([neg.yes, plain.yes]));
    for (const o of orders) {
      const truth = sim.token(o.tokenId)!;
      expect(o.options).toEqual({ tickSize: truth.tickSize, negRisk: truth.negRisk });
      expect(o.book).toMatchObject({ tickSizeText: truth.tickSize, negRisk: truth.negRisk });
      expect(onTick(o.order.price, Number(truth.tickSize)), JSON.stringify(o)).toBe(true);
      expect(o.order.price).toBeGreaterThan(0);
      expect(o.order.price).toBeLessThan(1);
      expect(o.order.size).toBeGreaterThanOrEqual(Number(truth.minOrderSize));
      // Passive: a bid below the best ask, an ask above the best bid.
      if (o.order.side === 'BUY') expect(o.order.price).toBeLessThan(o.book.bestAsk);
      else expect(o.order.price).toBeGreaterThan(o.book.bestBid);
      // The signed amounts are the order's (6 decimals): USDC for shares at the price.
      const usdc = Math.round(o.order.price * o.order.size * 1e6);
      const shares = Math.round(o.order.size * 1e6);
      const [maker, taker] = [Number(o.signed.makerAmount), Number(o.signed.takerAmount)];
      expect(o.order.side === 'BUY' ? [maker, taker] : [taker, maker]).toEqual([usdc, shares]);
      expect(o.signed.signature).toMatch(/^0x[0-9a-f]{8}/);
      expect(o.posted).toBeNull();
    }
    expect(orders.filter((o) => o.order.side === 'BUY').length).toBeGreaterThan(0);
    expect(orders.filter((o) => o.order.side === 'SELL').length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/\[quote\] ticks=[1-9]\d* orders=[1-9]/);
  }, 60_000);
});
