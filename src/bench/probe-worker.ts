/**
 * The feed worker of the latency split (e2e.ts, `split` rows): the same ingest path as a worker
 * feed (a SubscriptionManager over a writer-side BookStore attached to the main thread's table:
 * socket, `Connection.onMessage`, `store.ingest`, the backend's writer), with one instrument: the
 * writer's `ingest` is wrapped to log, per frame, the receive time the feed passed to it and the
 * time right after it returned (the frame parsed, applied and published). Nothing of this exists
 * in a normal feed, so it costs a normal feed nothing.
 *
 * The log is a ring in `probe` (see {@link PROBE_HEAD}): the main thread matches the receive time
 * stored in a slot (`lastUpdate`, the time passed to ingest) with the frame that published it.
 *
 * Messages: out 'ready' once started; in 'close' (stops the feed, then the thread ends).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BookStore } from '../table/store.js';
import { SubscriptionManager } from '../feed/manager.js';
import type { BackendName } from '../backend/index.js';
import { preciseNow } from '../table/clock.js';
import type { MarketGroup } from '../cache/universe.js';
import { PROBE_ENTRIES, PROBE_HEAD, probeViews } from './sim-protocol.js';

const port = parentPort!;
const { table, backend, url, groups, probe } = workerData as {
  table: SharedArrayBuffer;
  backend: BackendName;
  url: string;
  groups: MarketGroup[];
  probe: SharedArrayBuffer;
};
const { head, log } = probeViews(probe);
const mask = PROBE_ENTRIES - 1;

const store = new BookStore({
  table,
  backend,
  // Reads on this side are diagnostics only, as in the feed worker.
  clock: 'precise',
  // After each ingest returns: when the frame arrived and when it was applied.
  observe: (c) => {
    if (c.op !== 'ingest') return;
    const done = preciseNow();
    const i = head[PROBE_HEAD];
    log[2 * (i & mask)] = c.args[1];
    log[2 * (i & mask) + 1] = done;
    Atomics.store(head, PROBE_HEAD, i + 1);
  },
});
const manager = new SubscriptionManager(store, { url });
manager.start(groups);
port.on('message', (m) => {
  if (m === 'close')
    void manager.stop().then(() => {
      store.close();
      port.close();
    });
});
port.postMessage('ready');
