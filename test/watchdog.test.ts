/**
 * The watchdogs' decisions alone (src/feed/watchdog.ts); the feed tests (feed, stall) show each one
 * acting on a real socket.
 */
import { describe, expect, it } from 'vitest';
import { stallConfirmed, watchdogVerdict, type WatchedConnection } from '../src/feed/watchdog.js';

const O = { pongTimeoutMs: 5000, silenceTimeoutMs: 15_000, hardStaleMs: 5000, confirmIntervalMs: 100 };

/** An open connection at t = 100 s: opened at 0, data and a PONG just now, quiet, never probed. */
function conn(over: Partial<WatchedConnection> & { oldest?: number; stallAfter?: number } = {}): WatchedConnection {
  const { oldest = NaN, stallAfter = 15_000, ...rest } = over;
  return {
    busy: false,
    lastDataAt: 100_000,
    probeAt: 0,
    openedAt: 0,
    confirmedAt: 100_000,
    oldestPing: () => oldest,
    stallAfterMs: () => stallAfter,
    ...rest,
  };
}

describe('watchdogVerdict', () => {
  it('leaves a healthy connection alone', () => {
    expect(watchdogVerdict(conn(), 100_050, O)).toBe('ok');
    expect(watchdogVerdict(conn({ oldest: 99_000 }), 100_050, O)).toBe('ok');
  });

  it('PONG timeout first: the oldest unanswered PING older than pongTimeoutMs', () => {
    expect(watchdogVerdict(conn({ oldest: 95_000 }), 100_001, O)).toBe('pong timeout');
    expect(watchdogVerdict(conn({ oldest: 95_000 }), 100_000, O)).toBe('ok');
    // Before the stall and silence verdicts.
    expect(watchdogVerdict(conn({ oldest: 0, busy: true, lastDataAt: 0, stallAfter: 1000 }), 100_000, O)).toBe(
      'pong timeout',
    );
  });

  it('stall: a busy connection silent past its own threshold; a quiet one is not judged by it', () => {
    const busy = conn({ busy: true, lastDataAt: 99_000, stallAfter: 500 });
    expect(watchdogVerdict(busy, 99_500, O)).toBe('ok');
    expect(watchdogVerdict(busy, 99_501, O)).toBe('stall');
    expect(watchdogVerdict({ ...busy, busy: false }, 99_501, O)).toBe('ok');
  });

  it('silence: probe once, wait hardStaleMs for data, then reconnect; off with silenceTimeoutMs 0', () => {
    const silent = conn({ lastDataAt: 80_000 });
    expect(watchdogVerdict(silent, 95_000, O)).toBe('ok');
    expect(watchdogVerdict(silent, 95_001, O)).toBe('probe');
    const probed = { ...silent, probeAt: 95_001 };
    expect(watchdogVerdict(probed, 100_001, O)).toBe('probing');
    expect(watchdogVerdict(probed, 100_002, O)).toBe('silence');
    // Data after the probe: a new silence is probed again.
    expect(watchdogVerdict({ ...probed, lastDataAt: 96_000 }, 111_001, O)).toBe('probe');
    expect(watchdogVerdict(silent, 95_001, { ...O, silenceTimeoutMs: 0 })).toBe('ok');
  });

  it('unconfirmed: neither data nor a PONG for max(hardStaleMs, 3 x confirmIntervalMs), once open that long', () => {
    const o = { ...O, silenceTimeoutMs: 0 };
    const c = conn({ lastDataAt: 90_000, confirmedAt: 94_000 });
    expect(watchdogVerdict(c, 99_000, o)).toBe('ok');
    expect(watchdogVerdict(c, 99_001, o)).toBe('unconfirmed');
    expect(watchdogVerdict({ ...c, openedAt: 94_500 }, 99_001, o)).toBe('ok'); // not open long enough
    expect(watchdogVerdict(c, 99_001, { ...o, confirmIntervalMs: 2000 })).toBe('ok'); // 3 x 2000 > hardStaleMs
  });
});

describe('stallConfirmed', () => {
  it('holds only while no data came since the suspicion, the connection is busy, and past its threshold', () => {
    const c = conn({ busy: true, lastDataAt: 1000, stallAfter: 300 });
    expect(stallConfirmed(c, 1000, 1301)).toBe(true);
    expect(stallConfirmed(c, 1000, 1300)).toBe(false);
    expect(stallConfirmed({ ...c, lastDataAt: 1200 }, 1000, 1600)).toBe(false); // frames were read meanwhile
    expect(stallConfirmed({ ...c, busy: false }, 1000, 1600)).toBe(false);
  });
});
