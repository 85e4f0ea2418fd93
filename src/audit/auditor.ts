/**
 * The auditor (docs/FEED.md "Audits"): in the background, on a timer of its own and never on the
 * read path, it compares a rotating sample of the table's books with the exchange's REST books
 * (`POST /books`, one request per `1 / requestsPerSecond` s, never retried) and decides by exchange
 * timestamp and content:
 *
 * - REST older than the book held: proves nothing (REST can lag the stream); ignored.
 * - REST equal to the book held (same levels), whatever the timestamps: clean.
 * - REST newer and different: the stream gets `graceMs` to catch up. After it, a book still older
 *   than REST missed updates (`freeze`); one at REST's timestamp but different diverged
 *   (`divergence`). Either way the token is reset at once (`diverge`: reads miss `diverged`) and
 *   refetched by resubscription, and counted.
 *
 * Several frozen tokens of one connection within `quarantineWindowMs` reconnect that connection
 * (its tokens invalidated first); the others are left alone.
 */
import { preciseNow } from '../table/clock.js';
import type { BookTable } from '../table/book-table.js';
import type { HttpClient } from '../rest/http.js';
import { postBooks, type RawBook } from '../rest/books.js';
import type { FeedLog } from '../feed/log.js';
import { auditSlot, restAudit, servable, slotBinding, type RestAudit } from './compare.js';
import { coveragePeriodMs, type ResolvedAudit } from './options.js';
import { auditOff, type AuditStats } from './stats.js';

/** The purpose of the auditor's requests in the HTTP client's counters (the `purpose` label). */
export const AUDIT_PURPOSE = 'audit';

/** The reason of a quarantine's reconnect (the `disconnected` event's `reason`). */
export const QUARANTINE_REASON = 'quarantine';

/** What the auditor works on. */
export interface AuditHost {
  /** The table: slots are read from shared memory; `diverge` is a writer command (forwarded in worker mode). */
  readonly store: BookTable;
  /** Reconnects a connection; its tokens are invalidated first (the feed's `reconnect`). */
  reconnect(conn: number, reason: string): void;
  /** Where findings are logged. */
  readonly log: FeedLog;
}

/** One token of a request, with the binding it was read at. */
interface Item {
  token: string;
  slot: number;
  gen: number;
  conn: number;
}

/** One request's verdicts for one connection: clean when every book of it compared was. */
interface Tally {
  pending: number;
  bad: number;
  clean: number;
  closed: boolean;
}

/** Longest back-off after consecutive failed requests, in request intervals. */
const MAX_SKIP = 63;

/** Background auditor of one table; see the module comment. */
export class Auditor {
  private readonly s: AuditStats = auditOff();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private stopped = false;
  private failStreak = 0;
  /** Request intervals still to skip (back-off after failures). */
  private skip = 0;
  /** This pass's order of tokens, and the next position. */
  private order: string[] = [];
  private cursor = 0;
  private passStart = NaN;
  /** Connections whose tokens the current pass covers. */
  private conns: number[] = [];
  private readonly lastClean = new Float64Array(256).fill(NaN);
  private readonly firstSeen = new Float64Array(256).fill(NaN);
  private readonly freezesAt: number[][] = Array.from({ length: 256 }, () => []);
  private readonly rechecks = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();

  constructor(
    private readonly host: AuditHost,
    private readonly http: HttpClient,
    /** CLOB REST base URL (`POST {url}/books`). */
    readonly url: string,
    /** The settings in force. */
    readonly options: ResolvedAudit,
    private readonly now: () => number = preciseNow,
  ) {
    this.s.enabled = 1;
  }

  /** Starts the request timer (idempotent; nothing after {@link Auditor.stop}). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => this.tick(), 1000 / this.options.requestsPerSecond);
    this.timer.unref();
  }

  /** Stops for good: timers cleared, the request in flight aborted. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.rechecks) clearTimeout(t);
    this.rechecks.clear();
    this.abort.abort();
  }

  /** Counters and gauges, with each connection's time since its last clean audit. */
  stats(): AuditStats {
    const now = this.now();
    const connections = this.conns.map((conn) => {
      const clean = this.lastClean[conn];
      return {
        conn,
        cleanAgeMs: now - (Number.isNaN(clean) ? this.firstSeen[conn] : clean),
        recentFreezes: this.recentFreezes(conn, now),
      };
    });
    return { ...this.s, connections };
  }

  private tick(): void {
    if (this.stopped || this.inFlight) return;
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    const batch = this.nextBatch();
    if (batch.length === 0) return;
    this.inFlight = true;
    void this.audit(batch).finally(() => {
      this.inFlight = false;
    });
  }

  /** The next tokens of the rotation whose book a read would serve (the others cost nothing). */
  private nextBatch(): Item[] {
    const store = this.host.store;
    const r = store.reader;
    const out: Item[] = [];
    let rebuilt = false;
    while (out.length < this.options.tokensPerRequest) {
      if (this.cursor >= this.order.length) {
        if (rebuilt) break; // the whole pass scanned in this call
        this.newPass();
        rebuilt = true;
        if (this.order.length === 0) break;
      }
      const token = this.order[this.cursor++];
      const slot = store.slotOf(token);
      if (slot < 0) continue;
      const b = slotBinding(r, slot);
      if (servable(b.flags)) out.push({ token, slot, gen: b.gen, conn: b.conn });
    }
    return out;
  }

  /**
   * A new pass over every token of the table: connections in index order, each one's tokens in
   * slot order, taken round robin. Every request then samples every connection (a frozen one shows
   * several frozen tokens at once), and while the universe stays the same each token keeps its
   * place, so its audits are one pass apart.
   */
  private newPass(): void {
    const now = this.now();
    if (!Number.isNaN(this.passStart) && this.order.length > 0) this.s.lastPassMs = now - this.passStart;
    this.passStart = now;
    const store = this.host.store;
    const r = store.reader;
    const byConn = new Map<number, { slot: number; token: string }[]>();
    for (const token of store.tokens()) {
      const slot = store.slotOf(token);
      if (slot < 0) continue;
      const conn = slotBinding(r, slot).conn;
      let list = byConn.get(conn);
      if (list === undefined) {
        list = [];
        byConn.set(conn, list);
      }
      list.push({ slot, token });
    }
    const lists = [...byConn.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l.sort((x, y) => x.slot - y.slot));
    const order: string[] = [];
    const longest = lists.reduce((n, l) => Math.max(n, l.length), 0);
    for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) order.push(l[i].token);
    this.order = order;
    this.cursor = 0;
    this.conns = [...byConn.keys()].filter((c) => c > 0).sort((a, b) => a - b);
    for (const c of this.conns) if (Number.isNaN(this.firstSeen[c])) this.firstSeen[c] = now;
    this.s.coveragePeriodMs = coveragePeriodMs(order.length, this.options);
  }

  private async audit(batch: Item[]): Promise<void> {
    let books: RawBook[];
    try {
      books = await postBooks(
        this.http,
        this.url,
        batch.map((i) => i.token),
        { purpose: AUDIT_PURPOSE, signal: this.abort.signal, timeoutMs: this.options.timeoutMs, retries: 0 },
      );
    } catch (e) {
      if (this.stopped) return;
      this.s.failures++;
      if (this.failStreak === 0) {
        const error = e instanceof Error ? e.message : String(e);
        this.host.log.write('audit.failed', `polybook audit: POST /books failed; backing off: ${error}`, {
          url: this.url,
          error,
        });
      }
      this.skip = Math.min(MAX_SKIP, 2 ** this.failStreak - 1);
      this.failStreak++;
      return;
    }
    if (this.stopped) return;
    this.failStreak = 0;
    this.s.audits++;
    const byId = new Map<string, RawBook>();
    for (const b of books) byId.set(b.asset_id, b);
    const r = this.host.store.reader;
    const tallies = new Map<number, Tally>();
    const later: { item: Item; rest: RestAudit }[] = [];
    for (const item of batch) {
      const raw = byId.get(item.token);
      // No book at the exchange (unknown or settled: left out of the answer), or none to compare.
      const rest = raw === undefined ? null : restAudit(raw);
      if (rest === null) continue;
      const s = auditSlot(r, item.slot, item.gen, rest);
      if (s === null || Number.isNaN(s.ts)) continue;
      this.s.tokensAudited++;
      const t = tally(tallies, s.conn);
      if (rest.ts < s.ts) {
        this.s.restBehind++;
        t.clean++;
      } else if (s.equal) {
        t.clean++;
      } else {
        t.pending++;
        later.push({ item: { ...item, conn: s.conn }, rest });
      }
    }
    if (later.length > 0) {
      const timer = setTimeout(() => {
        this.rechecks.delete(timer);
        this.recheck(later, tallies);
      }, this.options.graceMs);
      timer.unref();
      this.rechecks.add(timer);
    }
    this.close(tallies, this.now());
  }

  /** After the grace period: the verdict on the books that were behind REST or different from it. */
  private recheck(list: { item: Item; rest: RestAudit }[], tallies: Map<number, Tally>): void {
    if (this.stopped) return;
    const r = this.host.store.reader;
    const now = this.now();
    for (const { item, rest } of list) {
      const t = tally(tallies, item.conn);
      t.pending--;
      const s = auditSlot(r, item.slot, item.gen, rest);
      // Reset meanwhile (a disconnect, a resync): its fresh book is on the way.
      if (s === null || Number.isNaN(s.ts)) continue;
      if (s.ts > rest.ts || s.equal) {
        t.clean++;
        continue;
      }
      t.bad++;
      this.host.store.diverge([item.token], now);
      if (s.ts === rest.ts) {
        this.s.divergences++;
        this.host.log.write(
          'audit.divergence',
          'polybook audit: book differs from REST at the same timestamp; refetching',
          {
            tokenId: item.token,
            conn: s.conn,
            timestamp: s.ts,
          },
        );
      } else {
        this.s.freezes++;
        this.host.log.write(
          'audit.freeze',
          'polybook audit: book missed updates (REST newer, no update within graceMs); refetching',
          {
            tokenId: item.token,
            conn: s.conn,
            bookTimestamp: s.ts,
            restTimestamp: rest.ts,
          },
        );
        this.frozen(s.conn, now);
      }
    }
    this.close(tallies, now);
  }

  /** Records the connections whose every verdict of one request is in: clean ones now are. */
  private close(tallies: Map<number, Tally>, now: number): void {
    for (const [conn, t] of tallies) {
      if (t.closed || t.pending > 0) continue;
      t.closed = true;
      if (t.bad === 0 && t.clean > 0) this.lastClean[conn] = now;
    }
  }

  /** A frozen token on `conn`: quarantine the connection once enough were found within the window. */
  private frozen(conn: number, now: number): void {
    const o = this.options;
    if (conn === 0 || o.quarantineAfter === 0) return;
    const list = this.freezesAt[conn];
    list.push(now);
    const n = this.recentFreezes(conn, now);
    if (n < o.quarantineAfter) return;
    list.length = 0;
    this.s.quarantines++;
    this.lastClean[conn] = NaN;
    this.firstSeen[conn] = now;
    this.host.log.write(
      'audit.quarantine',
      'polybook audit: several frozen tokens on one connection; reconnecting it',
      {
        conn,
        frozen: n,
        windowMs: o.quarantineWindowMs,
      },
    );
    this.host.reconnect(conn, QUARANTINE_REASON);
  }

  /** Frozen tokens of `conn` found within the quarantine window (older ones are dropped). */
  private recentFreezes(conn: number, now: number): number {
    const list = this.freezesAt[conn];
    const from = now - this.options.quarantineWindowMs;
    let i = 0;
    while (i < list.length && list[i] < from) i++;
    if (i > 0) list.splice(0, i);
    return list.length;
  }
}

function tally(tallies: Map<number, Tally>, conn: number): Tally {
  let t = tallies.get(conn);
  if (t === undefined) {
    t = { pending: 0, bad: 0, clean: 0, closed: false };
    tallies.set(conn, t);
  }
  return t;
}
