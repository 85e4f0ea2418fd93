/**
 * The JSON path, justified: runs the Rust comparison of the writer's hand-written frame scanner
 * with `sonic-rs` and `serde_json` on the real frames (native/core/examples/json_compare.rs:
 * parse-to-levels, crates deserializing into borrowed structs), when this is a checkout with a
 * Rust toolchain. An installed package has neither: the row then says so.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface JsonRow {
  frame: string;
  file: string;
  bytes: number;
  /** Book levels (size > 0) and price_change entries the frame yields. */
  levels: number;
  entries: number;
  /** Median ns per frame, parse-to-levels. */
  scannerNs: number;
  sonicNs: number;
  serdeJsonNs: number;
  /** Heap allocations per frame. */
  scannerAllocs: number;
  sonicAllocs: number;
  serdeJsonAllocs: number;
}

export type JsonResult = { rows: JsonRow[] } | { rows: null; why: string };

const ROOT = new URL('../../', import.meta.url);

/** Builds (release profile, as shipped) and runs the comparison; `quick` runs fewer iterations. */
export async function runJsonCompare(quick: boolean): Promise<JsonResult> {
  if (!existsSync(new URL('native/core/examples/json_compare.rs', ROOT)))
    return { rows: null, why: 'not a checkout (native/core is not shipped)' };
  const args = ['run', '--quiet', '--release', '-p', 'polybook-core', '--example', 'json_compare', '--', '--json'];
  if (quick) args.push('--quick');
  return new Promise((resolve) => {
    const child = spawn('cargo', args, { cwd: fileURLToPath(ROOT), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ rows: null, why: `cargo could not run (${e.message})` }));
    child.on('close', (code) => {
      if (code !== 0) return resolve({ rows: null, why: `cargo exited ${code}: ${err.trim().slice(-300)}` });
      try {
        resolve({ rows: JSON.parse(out.trim().split('\n').pop() ?? '') as JsonRow[] });
      } catch {
        resolve({ rows: null, why: `no JSON from the example: ${out.slice(-300)}` });
      }
    });
  });
}
