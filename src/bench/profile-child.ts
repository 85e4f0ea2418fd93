/**
 * Profile evidence for the ingest rows: `profile-child <native|js> <book|delta> <ms>` runs the
 * ingest benchmark loop for `ms` under `node --cpu-prof` (the parent passes the flag and reads the
 * profile). Prints one JSON line with the number of ingests.
 */
import { BookStore } from '../table/store.js';
import type { BackendName } from '../backend/index.js';
import { BOOK100, BOOK100_B, NO_BOOK, TRADE, TRADE_B, YES, NO } from './fixtures.js';

const [backend, kind, msArg] = process.argv.slice(2);
const s = new BookStore({ backend: backend as BackendName, capacity: 1024, maxDepth: 20, clock: 'precise' });
s.subscribe([YES, NO]);
s.ingest(BOOK100);
s.ingest(NO_BOOK);
const frames =
  kind === 'book' ? [Buffer.from(BOOK100), Buffer.from(BOOK100_B)] : [Buffer.from(TRADE), Buffer.from(TRADE_B)];
const end = performance.now() + Number(msArg);
let n = 0;
while (performance.now() < end) {
  for (let i = 0; i < 100; i++) s.ingest(frames[i & 1]);
  n += 100;
}
s.close();
console.log(JSON.stringify({ backend, kind, ingests: n }));
