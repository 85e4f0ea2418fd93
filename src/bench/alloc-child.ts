/** Child process of the allocation bench (alloc.ts) when the parent runs without `--expose-gc`. */
import type { BackendName } from '../backend/index.js';
import { runAlloc } from './alloc.js';

const [backends = 'native,js', mode = 'full'] = process.argv.slice(2);
const rows = await runAlloc(backends.split(',') as BackendName[], mode === 'quick');
process.stdout.write(`${JSON.stringify(rows)}\n`);
