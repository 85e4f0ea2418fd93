import { describe, expect, it } from 'vitest';
import { makeClock, preciseNow, COARSE_PERIOD_MS } from '../src/table/clock.js';
import { createTable } from '../src/table/layout.js';

describe('clock', () => {
  it('the coarse clock follows the precise clock within a few ticks', async () => {
    const sab = createTable(1, 1);
    const clock = makeClock('coarse', sab);
    try {
      // Wait until the ticker thread has written at least once after start.
      const first = clock.now();
      const deadline = preciseNow() + 5000;
      while (clock.now() === first && preciseNow() < deadline) await new Promise((r) => setImmediate(r));
      expect(clock.now()).toBeGreaterThan(first);
      let worst = 0;
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setImmediate(r));
        const lag = preciseNow() - clock.now();
        // Never ahead of real time (a book never looks older than it is), up to the two threads'
        // calibration to the monotonic clock (a few microseconds at worst).
        expect(lag).toBeGreaterThanOrEqual(-0.005);
        worst = Math.max(worst, lag);
      }
      // Resolution is the period plus scheduling delay; on a loaded 2-core CI box allow generous slack.
      expect(worst).toBeLessThan(COARSE_PERIOD_MS + 50);
    } finally {
      clock.stop();
    }
  });

  it('precise and custom clocks', () => {
    const sab = createTable(1, 1);
    const mono = Number(process.hrtime.bigint()) / 1e6;
    expect(Math.abs(makeClock('precise', sab).now() - mono)).toBeLessThan(1);
    expect(makeClock(() => 42, sab).now()).toBe(42);
    expect(() => makeClock('fast' as any, sab)).toThrow(
      /invalid clock="fast": expected 'coarse', 'precise' or a function/,
    );
  });
});
