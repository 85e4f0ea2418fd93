/**
 * Memory for 50,000 tokens with full real-depth books, one child process per backend (and one for
 * the naive baseline), so each resident set is measured alone. See memory-child.ts.
 */
import type { BackendName } from '../backend/index.js';
import { benchChild } from './harness.js';

export interface MemoryRow {
  /** `server`: the native writer over a book server's shared-memory table. */
  kind: BackendName | 'naive' | 'server';
  tokens: number;
  levelsPerBook: number;
  /** Resident set after ingest and GC, bytes. */
  rssBytes: number;
  /** Resident set of the same child before creating anything (Node, modules, fixtures). */
  baseRssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** The shared table (SharedArrayBuffer, or a server's file with its token directory). */
  tableBytes: number;
  /** With a handle made for every token (each with its level storage), before any read. Null for naive. */
  rssWithHandlesBytes: number | null;
  /** Then after every book was read once with its handle's `book()` and every level. Null for naive. */
  rssAfterDepthReadsBytes: number | null;
  /** After every book was read once with get() (reader caches of the depth-20 views), null for naive. */
  rssAfterReadsBytes: number | null;
  heapAfterReadsBytes: number | null;
  ingestMs: number;
}

export async function runMemory(kinds: MemoryRow['kind'][], tokens: number): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const kind of kinds) {
    rows.push(
      (await benchChild(
        'memory-child',
        [kind, String(tokens)],
        ['--expose-gc', '--max-old-space-size=4096'],
      )) as MemoryRow,
    );
  }
  return rows;
}
