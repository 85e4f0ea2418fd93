/**
 * Transport floor for the end-to-end benchmark: a bare `ws` client in a worker thread that
 * subscribes like the feed and, for every frame, only finds its change number (the exchange
 * timestamp minus the base) and publishes it with one `Atomics.store`. No JSON parsing, no book
 * table. The main thread spins on that word. Its latency is what any worker-based design gets
 * from this machine's loopback, wake-ups and scheduler; the feed's latency minus this is polybook's.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

const { url, tokens, sab, base } = workerData as {
  url: string;
  tokens: string[];
  sab: SharedArrayBuffer;
  base: number;
};
const latest = new Int32Array(sab, 0, 1);
// The feed's transport options (src/feed/connection.ts): no UTF-8 validation in ws (the writer checks), 16 MiB frames.
const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024, skipUTF8Validation: true });
ws.on('open', () => ws.send(JSON.stringify({ assets_ids: tokens, type: 'market' })));
let subscribed = false;
ws.on('message', (buf: Buffer) => {
  if (!subscribed) {
    subscribed = true;
    parentPort!.postMessage('ready');
    return;
  }
  const i = buf.lastIndexOf('"timestamp":"');
  if (i < 0) return;
  let k = 0;
  for (let j = i + 13; j < buf.length; j++) {
    const c = buf[j];
    if (c < 48 || c > 57) break;
    k = k * 10 + (c - 48);
  }
  Atomics.store(latest, 0, k - base);
});
parentPort!.on('message', (m) => {
  if (m === 'close') {
    ws.terminate();
    parentPort!.close();
  }
});
