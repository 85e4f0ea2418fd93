// Worker bootstrap used only when polybook runs from its TypeScript sources (tsx, vitest):
// Node 20 does not apply `--import tsx` from a worker's execArgv to the worker's own entry, so
// the tsx loader is registered here, in the worker thread, before the .ts entry is imported.
// From the compiled dist/ the worker starts worker-entry.js directly and this file is unused.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
