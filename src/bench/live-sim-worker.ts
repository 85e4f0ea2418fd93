/**
 * The simulator running live in its own worker thread (warmup benchmark): workerData is passed to
 * `startSimulator`; posts {url, groups} when listening; {type:'close'} stops it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startSimulator, type SimulatorOptions } from '../simulator/index.js';

const port = parentPort!;
const sim = await startSimulator(workerData as SimulatorOptions);
port.on('message', (m: { type: 'close' } | { type: 'stats' }) => {
  if (m.type === 'stats') port.postMessage({ type: 'stats', stats: sim.stats() });
  else void sim.close().then(() => port.close());
});
port.postMessage({
  type: 'ready',
  url: sim.url,
  groups: sim.markets.map((mk) => ({ market: mk.conditionId, tokens: [mk.yes, mk.no] })),
});
