#!/usr/bin/env node
// The `polybook` command: a thin launcher for dist/tools/cli.js (see src/tools/cli.ts).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/tools/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("polybook: this checkout is not built yet: run 'npm install' (or 'npm run build') first\n");
  process.exit(1);
}
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stdout.isTTY),
});
process.exitCode = code;
// Sockets and timers are closed by then; do not let a stray handle keep a finished command alive.
setTimeout(() => process.exit(code), 500).unref();
