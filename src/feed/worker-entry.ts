/**
 * The feed worker: the one writer of the table. Runs a SubscriptionManager over a BookStore that
 * writes the table the main thread created, applies the main thread's writer commands (with the
 * slots the main thread allocated) and feed operations in order, and answers its requests.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { BookStore } from '../table/store.js';
import { isCommandName, type Command } from '../table/writer.js';
import { SubscriptionManager } from './manager.js';
import type { Trade } from './trades.js';
import { FeedLog, lineLogger } from './log.js';
import { AUDIT_PURPOSE, Auditor } from '../audit/auditor.js';
import { AUDIT_BLOCK_WORDS, writeAuditBlock } from '../audit/stats.js';
import { HttpClient } from '../rest/http.js';
import { preciseNow } from '../table/clock.js';
import { PolybookError } from '../errors.js';
import { writeStats, STATS_WORDS } from './stats.js';
import { ServerMemory } from '../server/memory.js';
import {
  Q_HANDLED,
  Q_OPS_APPLIED,
  Q_POSTED,
  QUEUE_WORDS,
  WORKER_QUEUE_LIMIT,
  type FeedOp,
  type MainMessage,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';

/** Posting to the main thread: replies always, notifications unless it is too far behind. */
class Outbox {
  private readonly queue: Int32Array;
  /** Log lines and connection events dropped because the main thread was WORKER_QUEUE_LIMIT messages behind. */
  dropped = 0;

  constructor(
    private readonly port: MessagePort,
    queue: SharedArrayBuffer,
  ) {
    this.queue = new Int32Array(queue, 0, QUEUE_WORDS);
  }

  post(m: WorkerMessage): void {
    Atomics.add(this.queue, Q_POSTED, 1);
    this.port.postMessage(m);
  }

  /** Posts a notification unless the main thread is too far behind (then it is dropped and counted). */
  notify(m: WorkerMessage): void {
    if (((Atomics.load(this.queue, Q_POSTED) - Atomics.load(this.queue, Q_HANDLED)) | 0) >= WORKER_QUEUE_LIMIT) {
      this.dropped++;
      return;
    }
    this.post(m);
  }
}

/** The auditor of the table, with its HTTP client and shared block. */
interface WorkerAuditor {
  auditor: Auditor;
  http: HttpClient;
  block: Float64Array;
}

/** Creates the writer-side store, the feed and the auditor, or reports why not. */
function start(
  init: WorkerInit,
  out: Outbox,
): { store: BookStore; manager: SubscriptionManager; audit: WorkerAuditor | null } | null {
  let store: BookStore | undefined;
  try {
    // A book server's table: this thread maps the server's file itself.
    const table = init.table ?? ServerMemory.open(init.server ?? '', 'worker').buffer;
    // Reads on this side are diagnostics only: no coarse-clock ticker needed.
    store = new BookStore({ table, backend: init.backend, graceMs: init.graceMs, clock: 'precise' });
    // Log lines (event name included) go to the main thread, which writes them to the user's logger.
    const logger = init.log ? lineLogger((line) => out.notify({ type: 'log', ...line })) : undefined;
    const manager = new SubscriptionManager(store, { ...init.feed, logger, logStyle: 'object' });
    manager.on('connected', (e) => out.notify({ type: 'event', name: 'connected', payload: e }));
    manager.on('disconnected', (e) => out.notify({ type: 'event', name: 'disconnected', payload: e }));
    if (init.feed.customFeatures) {
      manager.on('newMarket', (e) => out.post({ type: 'event', name: 'newMarket', payload: e }));
    }
    manager.start([]);
    let audit: WorkerAuditor | null = null;
    if (init.audit) {
      const http = new HttpClient(init.audit.http);
      const host = {
        store,
        reconnect: (conn: number, reason: string) => void manager.reconnect(conn, reason),
        log: new FeedLog(logger, 'object'),
      };
      audit = {
        auditor: new Auditor(host, http, init.audit.url, init.audit.options),
        http,
        block: new Float64Array(init.audit.block, 0, AUDIT_BLOCK_WORDS),
      };
    }
    return { store, manager, audit };
  } catch (e) {
    store?.close();
    out.post({ type: 'fatal', message: (e as Error).message });
    return null;
  }
}

function run(port: MessagePort, init: WorkerInit): void {
  const out = new Outbox(port, init.queue);
  const started = start(init, out);
  if (!started) {
    port.close();
    return;
  }
  const { store, manager, audit } = started;
  const statsBlock = new Float64Array(init.stats, 0, STATS_WORDS);
  const stats = () => ({ ...manager.stats(), workerDropped: out.dropped });
  const publish = (): void => {
    writeStats(statsBlock, stats());
    if (audit) writeAuditBlock(audit.block, audit.auditor.stats(), audit.http.stats()[AUDIT_PURPOSE], preciseNow());
  };
  publish();
  const statsTimer = setInterval(publish, manager.options.healthIntervalMs);
  const queue = new Int32Array(init.queue, 0, QUEUE_WORDS);
  let stopping = false;
  // Trades go over in one message per burst (the frames of one turn of the event loop).
  let trades: Trade[] = [];
  const flushTrades = (): void => {
    const batch = trades;
    trades = [];
    out.notify({ type: 'trades', trades: batch });
  };
  const onTrade = (t: Trade): void => {
    if (trades.push(t) === 1) queueMicrotask(flushTrades);
  };

  const feedOp = (o: FeedOp): void => {
    switch (o.op) {
      case 'add':
        if (!stopping) manager.add(o.entries);
        return;
      case 'remove':
        if (!stopping) manager.remove(o.tokenIds);
        return;
      case 'trades':
        // The manager searches frames for trades only while this listener is attached.
        manager.off('trade', onTrade);
        if (o.on) manager.on('trade', onTrade);
        return;
      case 'reconnect':
        if (!stopping) manager.reconnect(o.conn, o.reason);
        return;
      case 'startAudit':
        if (!stopping) audit?.auditor.start();
        return;
      case 'request':
        switch (o.kind) {
          case 'stats':
            // The audit block too is current when the reply arrives.
            publish();
            out.post({ type: 'reply', id: o.id, value: stats() });
            return;
          case 'fullBook':
            out.post({ type: 'reply', id: o.id, value: store.fullBook(o.tokenId) });
            return;
          case 'stop':
            stopping = true;
            audit?.auditor.stop();
            clearInterval(statsTimer);
            void manager.stop().then(() => {
              publish();
              store.close();
              out.post({ type: 'reply', id: o.id, value: undefined });
              port.close();
            });
            return;
        }
    }
  };

  port.on('message', (m: MainMessage) => {
    // Consecutive writer commands are applied as one batch (watchers are woken once, after them).
    let batch: Command[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      const commands = batch;
      batch = [];
      store.apply(commands, (c, e) => out.post({ type: 'opError', message: `${c.op}: ${(e as Error).message}` }));
    };
    for (const o of m.ops) {
      Atomics.add(queue, Q_OPS_APPLIED, 1); // off the queue (before a reply can reach the main thread)
      if (isCommandName(o.op)) {
        batch.push(o as Command);
        continue;
      }
      flush();
      try {
        feedOp(o as FeedOp);
      } catch (e) {
        if (o.op === 'request') out.post({ type: 'failed', id: o.id, message: (e as Error).message });
        else out.post({ type: 'opError', message: `${o.op}: ${(e as Error).message}` });
      }
    }
    flush();
  });
  out.post({ type: 'ready' });
}

if (!parentPort) {
  throw new PolybookError(
    'POLYBOOK_INVALID_STATE',
    'polybook: worker-entry.ts runs in a worker thread (see startWorkerFeed)',
  );
}
run(parentPort, workerData as WorkerInit);
