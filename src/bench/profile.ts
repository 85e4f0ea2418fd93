/**
 * CPU profiles (`node --cpu-prof`) of the ingest loops, summarised as self time per function:
 * evidence of where an ingest's time goes (the native call, the JS around it, GC).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../backend/index.js';
import { benchChild } from './harness.js';

export interface ProfileEntry {
  /** Function name and location (file:line, or the native/V8 category). */
  fn: string;
  selfPct: number;
}

export interface ProfileRow {
  backend: BackendName;
  kind: 'book' | 'delta';
  ingests: number;
  top: ProfileEntry[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per function over the samples taken inside the benchmark loop (frames under the
 * profile-child module; start-up and module loading are left out), top `topN`.
 */
export function summarise(p: CpuProfile, topN = 8): ProfileEntry[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inLoop = new Map<number, boolean>();
  const under = (id: number): boolean => {
    const known = inLoop.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id);
    const own = n !== undefined && /profile-child\.(ts|js)$/.test(n.callFrame.url);
    const up = parent.get(id);
    const r = own || (up !== undefined && under(up));
    inLoop.set(id, r);
    return r;
  };
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!n) continue;
    // GC samples have no JS parent; they are counted when they happen during the loop's run.
    const gcOrProgram = n.callFrame.functionName === '(garbage collector)';
    if (!gcOrProgram && !under(n.id)) continue;
    const cf = n.callFrame;
    const file = cf.url ? cf.url.replace(/^.*\/(src|node_modules)\//, '$1/').replace(/^node:/, 'node:') : '';
    const key = `${cf.functionName || '(anonymous)'}${file ? ` (${file})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([fn, t]) => ({ fn, selfPct: (100 * t) / total }));
}

export async function runProfiles(backends: BackendName[], ms: number): Promise<ProfileRow[]> {
  const rows: ProfileRow[] = [];
  for (const backend of backends) {
    for (const kind of ['book', 'delta'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'polybook-prof-'));
      try {
        const out = (await benchChild(
          'profile-child',
          [backend, kind, String(ms)],
          ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100'],
        )) as { ingests: number };
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (!file) throw new Error('no .cpuprofile written');
        rows.push({
          backend,
          kind,
          ingests: out.ingests,
          top: summarise(JSON.parse(readFileSync(join(dir, file), 'utf8'))),
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return rows;
}
