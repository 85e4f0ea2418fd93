/** `npx tsx bench/run.ts [--quick]`: the benchmark suite (src/bench.ts) from the sources. */
import { runBenchmarks } from '../src/bench.js';

await runBenchmarks({ quick: process.argv.includes('--quick') });
