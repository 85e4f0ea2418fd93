/**
 * The feed's logging (src/feed/log.ts, docs/FEED.md "Logging"): console-style and object-style
 * (pino, bunyan) loggers, detection and the `logStyle` switch, a stable event name on every line,
 * and the context fields kept, in this thread and through the feed worker. A real pino logger
 * writes to a stream the test captures.
 */
import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ConfigError } from '../src/errors.js';
import { detectLogStyle, FeedLog, LOG_EVENTS, type LogContext } from '../src/feed/log.js';
import { resolveFeedOptions } from '../src/feed/options.js';
import { BACKENDS, waitFor } from './helpers.js';
import { feedRig, nextDisconnect, workerRig } from './rig.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 15_000 });

/** A pino logger at debug level whose JSON lines are parsed into `lines`. */
function capturedPino(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

/** A console-style logger that records its calls. */
function capturedConsole(): {
  logger: Record<'debug' | 'info' | 'warn' | 'error', (m: string, c?: LogContext) => void>;
  calls: { level: string; message: string; context: LogContext | undefined }[];
} {
  const calls: { level: string; message: string; context: LogContext | undefined }[] = [];
  const at = (level: string) => (message: string, context?: LogContext) => void calls.push({ level, message, context });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, calls };
}

describe('FeedLog', () => {
  it('detects pino and bunyan as object-style, anything else as console-style; logStyle forces one', () => {
    expect(detectLogStyle(pino({ enabled: false }))).toBe('object');
    expect(detectLogStyle(pino({ enabled: false }).child({ svc: 'x' }))).toBe('object');
    const bunyanLike = { child() {}, addStream() {}, warn() {} };
    expect(detectLogStyle(bunyanLike)).toBe('object');
    expect(detectLogStyle(console)).toBe('console');
    expect(detectLogStyle({ child() {}, warn() {} })).toBe('console'); // winston has child() too, and is console-style
    expect(detectLogStyle(undefined)).toBe('console');
    expect(resolveFeedOptions({ logger: pino({ enabled: false }) }).logStyle).toBe('object');
    expect(resolveFeedOptions({ logger: console }).logStyle).toBe('console');
    expect(resolveFeedOptions({ logger: console, logStyle: 'object' }).logStyle).toBe('object');
    expect(resolveFeedOptions({ logger: pino({ enabled: false }), logStyle: 'console' }).logStyle).toBe('console');
    expect(() => resolveFeedOptions({ logStyle: 'json' as never })).toThrow(ConfigError);
    expect(() => resolveFeedOptions({ logStyle: 'json' as never })).toThrow(
      `polybook: invalid logStyle="json": expected 'auto', 'console' or 'object'`,
    );
    expect(() => resolveFeedOptions({ logger: 'stdout' as never })).toThrow(/invalid logger="stdout"/);
  });

  it('writes each event at its level, the event first in the fields, in the style chosen', () => {
    const c = capturedConsole();
    new FeedLog(c.logger, 'console').write('feed.stall', 'stalled', { conn: 3, silentMs: 1200 });
    expect(c.calls).toEqual([
      { level: 'warn', message: 'stalled', context: { event: 'feed.stall', conn: 3, silentMs: 1200 } },
    ]);
    expect(Object.keys(c.calls[0].context!)[0]).toBe('event');

    const o: unknown[][] = [];
    new FeedLog({ info: (...a: unknown[]) => void o.push(a) }, 'object').write('feed.disconnected', 'gone', {
      conn: 1,
    });
    expect(o).toEqual([[{ event: 'feed.disconnected', conn: 1 }, 'gone']]);

    // No context: the event alone.
    new FeedLog(c.logger, 'console').write('feed.listener_error', 'threw');
    expect(c.calls[1]).toEqual({ level: 'error', message: 'threw', context: { event: 'feed.listener_error' } });
    // A logger without the level's method skips the line.
    const d = capturedConsole();
    const warnOnly = new FeedLog({ warn: d.logger.warn }, 'console');
    warnOnly.write('feed.listener_error', 'threw');
    warnOnly.write('feed.connected', 'connected', { conn: 1 });
    expect(d.calls).toEqual([]);
  });

  it('calls the logger as a method (pino needs its this) and survives a logger that throws', () => {
    const { logger, lines } = capturedPino();
    new FeedLog(logger, 'object').write('feed.pong_timeout', 'no PONG', { conn: 2 });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, event: 'feed.pong_timeout', conn: 2, msg: 'no PONG' }),
    ]);
    const bad = new FeedLog(
      {
        warn() {
          throw new Error('disk full');
        },
      },
      'console',
    );
    expect(() => bad.write('feed.stall', 'x')).not.toThrow();
  });
});

describe.each(BACKENDS)('feed logging on a live feed (%s backend)', (backend) => {
  it('a pino logger receives the event and the context fields of each line', async () => {
    const { logger, lines } = capturedPino();
    const { sim, store, feed } = await feedRig(backend, {
      sim: { markets: 2, rate: 100 },
      feed: { logger, pongTimeoutMs: 600 },
      ready: true,
    });
    expect(feed.options.logStyle).toBe('object');
    const connected = lines.find((l) => l.event === 'feed.connected');
    expect(connected).toMatchObject({ level: 20, conn: 1, tokens: 4, msg: 'polybook feed: connected' });
    // A watchdog line: the deaf socket's PONG timeout, then its disconnect.
    const gone = nextDisconnect(feed);
    sim.inject('deaf');
    expect((await gone).reason).toBe('pong timeout');
    await waitFor(() => lines.some((l) => l.event === 'feed.disconnected'), 'the disconnect logged');
    expect(lines.find((l) => l.event === 'feed.pong_timeout')).toMatchObject({
      level: 40,
      conn: 1,
      msg: 'polybook feed: PONG timeout; reconnecting',
    });
    expect(lines.find((l) => l.event === 'feed.disconnected')).toMatchObject({
      level: 30,
      conn: 1,
      code: 1006,
      reason: 'pong timeout',
      reconnectInMs: 20,
      msg: 'polybook feed: disconnected',
    });
    await waitFor(() => store.readyCount() === 4, 'ready again');
    // Every line names a known event.
    for (const l of lines) expect(Object.keys(LOG_EVENTS)).toContain(l.event);
  });

  it('a console-style logger gets (message, context) with the event in the context', async () => {
    const c = capturedConsole();
    const { sim, feed } = await feedRig(backend, {
      sim: { markets: 1, rate: 50 },
      feed: { logger: c.logger },
      ready: true,
    });
    expect(feed.options.logStyle).toBe('console');
    const gone = nextDisconnect(feed);
    sim.inject('drop');
    await gone;
    expect(c.calls).toContainEqual({
      level: 'debug',
      message: 'polybook feed: connected',
      context: { event: 'feed.connected', conn: 1, tokens: 2 },
    });
    expect(c.calls).toContainEqual({
      level: 'info',
      message: 'polybook feed: disconnected',
      context: {
        event: 'feed.disconnected',
        conn: 1,
        code: expect.any(Number),
        reason: expect.any(String),
        reconnectInMs: 20,
      },
    });
  });

  it('worker mode: lines cross to the main thread with their event and context, into a pino logger there', async () => {
    const { logger, lines } = capturedPino();
    const { sim, feed, store } = await workerRig(backend, { sim: { markets: 2, rate: 100 }, feed: { logger } });
    await waitFor(() => store.readyCount() === 4, 'ready');
    await waitFor(() => lines.some((l) => l.event === 'feed.connected'), 'the connect line');
    expect(lines.find((l) => l.event === 'feed.connected')).toMatchObject({ level: 20, conn: 1, tokens: 4 });
    const gone = new Promise((r) => feed.once('disconnected', r));
    sim.inject('drop');
    await gone;
    await waitFor(() => lines.some((l) => l.event === 'feed.disconnected'), 'the disconnect line');
    expect(lines.find((l) => l.event === 'feed.disconnected')).toMatchObject({
      level: 30,
      conn: 1,
      code: expect.any(Number),
      msg: 'polybook feed: disconnected',
    });
  });
});
