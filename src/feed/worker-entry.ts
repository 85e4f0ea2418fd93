/**
 * The feed worker: the one writer of the table. Runs a SubscriptionManager over a writer-side
 * BookStore attached to the table the main thread created, and applies the main thread's
 * bind/unbind/assign/... operations with the slots the main thread allocated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BookStore } from '../table/store.js';
import { SubscriptionManager } from './manager.js';
import { writeStats, STATS_WORDS } from './stats.js';
import { lineLogger } from './log.js';
import { PolybookError } from '../errors.js';
import {
  Q_HANDLED,
  Q_OPS_APPLIED,
  Q_POSTED,
  QUEUE_WORDS,
  WORKER_QUEUE_LIMIT,
  type MainMessage,
  type MainOp,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';

const port = parentPort;
if (!port)
  throw new PolybookError(
    'POLYBOOK_INVALID_STATE',
    'polybook: worker-entry.ts runs in a worker thread (see startWorkerFeed)',
  );
const init = workerData as WorkerInit;
const queue = new Int32Array(init.queue, 0, QUEUE_WORDS);
const post = (m: WorkerMessage): void => {
  Atomics.add(queue, Q_POSTED, 1);
  port.postMessage(m);
};
/** Log lines and connection events dropped because the main thread was WORKER_QUEUE_LIMIT messages behind. */
let dropped = 0;
/** Posts a notification unless the main thread is too far behind (then it is dropped and counted). */
const notify = (m: WorkerMessage): void => {
  if (((Atomics.load(queue, Q_POSTED) - Atomics.load(queue, Q_HANDLED)) | 0) >= WORKER_QUEUE_LIMIT) {
    dropped++;
    return;
  }
  post(m);
};

function run(): void {
  let store: BookStore;
  try {
    // Reads on this side are diagnostics only: no coarse-clock ticker needed.
    store = new BookStore({ table: init.table, backend: init.backend, graceMs: init.graceMs, clock: 'precise' });
  } catch (e) {
    post({ type: 'fatal', message: (e as Error).message });
    port!.close();
    return;
  }
  // Log lines (event name included) go to the main thread, which writes them to the user's logger.
  const logger = init.log ? lineLogger((line) => notify({ type: 'log', ...line })) : undefined;
  let manager: SubscriptionManager;
  try {
    manager = new SubscriptionManager(store, { ...init.feed, logger, logStyle: 'object' });
  } catch (e) {
    post({ type: 'fatal', message: (e as Error).message });
    port!.close();
    return;
  }
  manager.on('connected', (e) => notify({ type: 'event', name: 'connected', payload: e }));
  manager.on('disconnected', (e) => notify({ type: 'event', name: 'disconnected', payload: e }));
  if (init.feed.customFeatures) manager.on('newMarket', (e) => post({ type: 'event', name: 'newMarket', payload: e }));
  manager.start([]);
  const statsBlock = new Float64Array(init.stats, 0, STATS_WORDS);
  const stats = () => ({ ...manager.stats(), workerDropped: dropped });
  const publish = (): void => writeStats(statsBlock, stats());
  publish();
  const statsTimer = setInterval(publish, manager.options.healthIntervalMs);

  /** Token bound at each slot by the main thread (to turn its unbind(slot) into unbindAt(token)). */
  const tokenAt = new Map<number, string>();
  const w = store.writer;
  let stopping = false;

  const apply = (o: MainOp): void => {
    switch (o.op) {
      case 'bind':
        tokenAt.set(o.slot, o.tokenId);
        store.bindAt(o.tokenId, o.slot, o.conn);
        return;
      case 'unbind': {
        const t = tokenAt.get(o.slot);
        tokenAt.delete(o.slot);
        // A token the manager already removed is not unbound twice (one generation step per main-side unbind).
        if (t !== undefined) store.unbindAt(t);
        return;
      }
      case 'assign':
        return w.assign(o.slot, o.conn);
      case 'confirm':
        return w.confirm(o.conn, o.sentAt);
      case 'ingest':
        w.ingest(o.frame, o.now);
        return;
      case 'invalidate':
        return w.invalidate(o.slot, o.now);
      case 'disable':
        return w.setDisabled(o.slot, o.disabled);
      case 'setMeta':
        return w.setMeta(o.slot, o.minOrderSize, o.negRisk);
      case 'restBook':
        return w.restBook(o.json, o.now);
      case 'add':
        if (!stopping) manager.add(o.entries);
        return;
      case 'remove':
        if (!stopping) manager.remove(o.tokenIds);
        return;
      case 'stats':
        post({ type: 'stats', id: o.id, stats: stats() });
        return;
      case 'stop':
        stopping = true;
        clearInterval(statsTimer);
        void manager.stop().then(() => {
          publish();
          store.close();
          post({ type: 'stopped', id: o.id });
          port!.close();
        });
        return;
    }
  };

  port!.on('message', (m: MainMessage) => {
    for (const o of m.ops) {
      Atomics.add(queue, Q_OPS_APPLIED, 1); // off the queue (before a reply can reach the main thread)
      try {
        apply(o);
      } catch (e) {
        post({ type: 'opError', message: `${o.op}: ${(e as Error).message}` });
      }
    }
  });
  post({ type: 'ready' });
}

run();
