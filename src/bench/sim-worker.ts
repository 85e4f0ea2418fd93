/**
 * The simulator's frames, sent from their own worker thread, for the end-to-end benchmark.
 *
 * Generating a change costs the simulator ~40 µs (it hashes both books of the market for the
 * `hash` of each entry, docs/PROTOCOL.md 2.9), so generating 20,000 changes/s live would need most of a
 * core on its own, on a 2-core machine where the main thread spins on one core. The exchange's CPU
 * is not ours in production, so the changes are generated first and then written to the socket at
 * the rate:
 *
 * 1. Record: the simulator runs here with its exchange clock driven by a change counter: change k
 *    is stamped with exchange `timestamp` = base + k (every frame of change k: the price_change, and
 *    the book and last_trade_price frames of a trade). A capture client subscribed to every token
 *    receives the opening snapshot and the frames of `changes` changes, in order, byte for byte.
 * 2. Replay: a minimal market-channel server (subscription answered with the recorded snapshot of
 *    the requested tokens, `PING` answered `PONG`) writes the frames of change k, one socket write
 *    per frame, at `rate` changes/s, and stores in `sent[k]` (SharedArrayBuffer) the time right
 *    after the first frame of change k was written (`preciseNow()`, the host's monotonic clock,
 *    which all threads share). A reader that sees a book stamped base + k knows its send time.
 *
 * Messages in: {type:'run', rate, count} replays the next `count` changes, then sets ctl[CTL_DONE];
 * {type:'rewind'} starts over at change 1 (for a new client: its subscription gets the opening
 * snapshot again); {type:'close'}. Out: {type:'ready', url, groups, changes, visibleChanges, frames},
 * {type:'done', framesSent}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { startSimulator } from '../simulator/index.js';
import { BookStore } from '../table/store.js';
import { preciseNow } from '../table/clock.js';
import { CTL_DONE, CTL_SENT, SENT_OFFSET, type SimWorkerData } from './sim-protocol.js';

const port = parentPort!;
const data = workerData as SimWorkerData & { changes: number };
const ctl = new Int32Array(data.sab, 0, 4);
const sent = new Float64Array(data.sab, SENT_OFFSET, data.changes + 2);
const wall = preciseNow;

// ---- 1. record
let k = 0;
const sim = await startSimulator({
  markets: data.markets,
  seed: data.seed,
  rate: 0,
  clock: () => data.base + k,
  tickChangeRate: 0,
  snapshotDelayMs: 0,
});
const tokens = [...sim.tokens];
const groups = sim.markets.map((mk) => ({ market: mk.conditionId, tokens: [mk.yes, mk.no] }));
const capture = new WebSocket(sim.url, { perMessageDeflate: false });
const frames: Buffer[] = [];
await new Promise<void>((resolve, reject) => {
  capture.once('open', () => resolve());
  capture.once('error', reject);
});
capture.on('message', (d: Buffer) => frames.push(Buffer.from(d)));
capture.send(JSON.stringify({ assets_ids: tokens, type: 'market' }));
const arrived = async (n: number): Promise<void> => {
  while (frames.length < n) await new Promise((r) => setTimeout(r, 1));
};
await arrived(1);
const snapshotFrame = frames.shift()!;
const snapshot = JSON.parse(snapshotFrame.toString()) as { asset_id: string }[];
const bookText = new Map(snapshot.map((b) => [b.asset_id, JSON.stringify(b)]));
const CHUNK = 500;
while (k < data.changes) {
  const n = Math.min(CHUNK, data.changes - k);
  for (let i = 0; i < n; i++) {
    k++;
    sim.step(1);
  }
  await arrived(sim.stats().framesSent - 1);
}
capture.close();
await sim.close();
/** Frames of change k: first[k] .. first[k + 1] - 1 (a change with no subscribed frame has none). */
const first = new Int32Array(data.changes + 2);
{
  let f = 0;
  for (let c = 1; c <= data.changes + 1; c++) {
    first[c] = f;
    while (f < frames.length && stampOf(frames[f]) === c) f++;
  }
  if (f !== frames.length) throw new Error(`sim-worker: ${frames.length - f} recorded frames out of change order`);
}

/**
 * Market (index in `groups`) of each change that a reader can see, -1 for the others: shared with
 * the reader after sent[] (see sim-protocol.ts). A change is visible when it changes the published
 * (depth `data.depth`) view of one of its tokens: a change deeper in the book moves nothing a read
 * returns (the writer publishes only what differs, DESIGN.md section 5.8), so it has no "visible"
 * time. The frames are replayed once here through a probe store to tell which changes publish.
 */
const marketOf = new Int32Array(data.sab, SENT_OFFSET + 8 * (data.changes + 2), data.changes + 2).fill(-1);
let visibleChanges = 0;
{
  const groupOf = new Map<string, number>();
  groups.forEach((g, i) => {
    for (const t of g.tokens) groupOf.set(t, i);
  });
  const probe = new BookStore({ backend: 'js', maxDepth: data.depth, capacity: tokens.length + 8, clock: 'precise' });
  probe.subscribe(tokens);
  probe.ingest(snapshotFrame);
  const seq = (t: string): number => probe.state(t)!.sequence;
  for (let c = 1; c <= data.changes; c++) {
    if (first[c] === first[c + 1]) continue;
    const f = frames[first[c]];
    const i = f.indexOf('"asset_id":"');
    const g = i < 0 ? undefined : groupOf.get(f.toString('latin1', i + 12, f.indexOf('"', i + 12)));
    if (g === undefined) continue;
    const [a, b] = groups[g].tokens;
    const before = seq(a) + seq(b);
    for (let j = first[c]; j < first[c + 1]; j++) probe.ingest(frames[j]);
    if (seq(a) + seq(b) !== before) {
      marketOf[c] = g;
      visibleChanges++;
    }
  }
  const m = probe.metrics().writer;
  if (m.desyncs || m.crossedResets || m.badJson || m.badEvent || m.bboMismatches)
    throw new Error(`sim-worker: recorded frames left the happy path: ${JSON.stringify(m)}`);
  probe.close();
}

function stampOf(buf: Buffer): number {
  const i = buf.lastIndexOf('"timestamp":"');
  if (i < 0) return -1;
  const j = buf.indexOf('"', i + 13);
  return Number(buf.toString('latin1', i + 13, j)) - data.base;
}

// ---- 2. replay
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws/market', perMessageDeflate: false });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const clients = new Set<WebSocket>();
server.on('connection', (ws) => {
  ws.on('message', (d: Buffer) => {
    const text = d.toString();
    if (text.trim() === 'PING') return ws.send('PONG');
    let msg: { assets_ids?: string[]; type?: string; operation?: string };
    try {
      msg = JSON.parse(text);
    } catch {
      return ws.send('INVALID MESSAGE');
    }
    if (msg.operation === 'unsubscribe') return;
    const books = (msg.assets_ids ?? []).map((id) => bookText.get(id)).filter((b): b is string => b !== undefined);
    ws.send(`[${books.join(',')}]`);
    clients.add(ws);
  });
  ws.on('close', () => clients.delete(ws));
  ws.on('error', () => ws.terminate());
});

let next = 1;
let framesSent = 0;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sendChange(c: number): void {
  const a = first[c];
  const b = first[c + 1];
  for (let f = a; f < b; f++) {
    for (const ws of clients) {
      ws.send(frames[f], { binary: false });
      framesSent++;
    }
    if (f === a) sent[c] = wall();
  }
  if (a === b) sent[c] = wall();
}

async function run(rate: number, count: number): Promise<void> {
  const start = wall();
  const from = next;
  const period = 1000 / rate;
  let slice = performance.now();
  while (next - from < count && next <= data.changes) {
    const due = start + (next - from + 1) * period;
    const t = wall();
    if (t < due) {
      // Sleep until due (the kernel may wake us up to ~50 µs late: then the due changes go out back to back).
      Atomics.wait(sleeper, 0, 0, due - t);
      continue;
    }
    sendChange(next);
    Atomics.store(ctl, CTL_SENT, next);
    next++;
    // Let this thread's event loop run (PINGs) about every millisecond.
    if (performance.now() - slice > 1) {
      await new Promise((r) => setImmediate(r));
      slice = performance.now();
    }
  }
  Atomics.store(ctl, CTL_DONE, 1);
}

port.on('message', (m: { type: 'run'; rate: number; count: number } | { type: 'rewind' } | { type: 'close' }) => {
  if (m.type === 'run') {
    Atomics.store(ctl, CTL_DONE, 0);
    void run(m.rate, m.count).then(() => port.postMessage({ type: 'done', framesSent }));
  } else if (m.type === 'rewind') {
    next = 1;
    sent.fill(0);
    Atomics.store(ctl, CTL_SENT, 0);
  } else if (m.type === 'close') {
    for (const ws of clients) ws.terminate();
    server.close(() => port.close());
  }
});
port.postMessage({
  type: 'ready',
  url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/market`,
  groups,
  changes: data.changes,
  visibleChanges,
  frames: frames.length,
});
