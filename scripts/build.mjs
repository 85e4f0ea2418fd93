#!/usr/bin/env node
// `npm install` in a checkout (the `prepare` script): builds the native binding when a Rust
// toolchain is present, then the TypeScript. Without Rust, polybook runs on its pure-TypeScript
// backend, so the native step is skipped with a note instead of failing the install.
import { spawnSync } from 'node:child_process';

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' });

const hasCargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;
if (hasCargo) {
  const r = run('npm', ['run', 'build:native']);
  if (r.status !== 0) process.exit(r.status ?? 1);
} else {
  console.warn(
    'polybook: no Rust toolchain (cargo) found; skipping the native build, the pure-TypeScript backend will be used.',
  );
}
const t = run('npm', ['run', 'build:ts']);
process.exit(t.status ?? 1);
