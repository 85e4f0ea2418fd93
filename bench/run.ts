/** `npx tsx bench/run.ts [--quick]`: the benchmark suite (src/bench/index.ts) from the sources. */
import { runBenchmarks } from '../src/bench/index.js';

await runBenchmarks({ quick: process.argv.includes('--quick') });
