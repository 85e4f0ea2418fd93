/**
 * A book server's table in a named shared-memory file (docs/SERVER.md): names and paths, the
 * native mapping (native/src/shm.rs), the checks of a file another process made, and the hooks the
 * table layer uses for mapped tables (src/table/mapped.ts).
 */
import { join } from 'node:path';
import { loadedNative, type BackendName } from '../backend/index.js';
import type { NativeBinding, NativeSharedTable } from '../backend/native/index.js';
import { ConfigError, PolybookError } from '../errors.js';
import { COARSE_PERIOD_MS } from '../table/clock.js';
import {
  H_CLOCK,
  H_SERVER_GENERATION,
  H_SERVER_PID,
  H_SERVER_STARTED,
  H_SERVER_STATE,
  H_MAGIC,
  H_VERSION,
  HEADER_BYTES,
  LAYOUT_VERSION,
  MAGIC,
  SERVER_RUNNING,
  SERVER_STOPPED,
  serverRegion,
  tableGeometry,
} from '../table/layout.js';
import { registerMapped, type MappedTable } from '../table/mapped.js';
import { STATS_WORDS } from '../feed/stats.js';

/** Where the files live: a tmpfs, so the table is memory. */
export const SHM_DIR = '/dev/shm';
/** What a server name may be: it is part of two file names. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks a server name. @throws ConfigError naming `option`. */
export function checkName(name: unknown, option = 'name'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new ConfigError(
      option,
      name,
      'a server name: 1 to 64 letters, digits, dots, dashes or underscores, not starting with . - or _',
    );
  }
  return name;
}

/** The table file of a server name. */
export function tablePath(name: string): string {
  return join(SHM_DIR, `polybook-${name}`);
}

/** The control socket of a server name, next to its table. */
export function socketPath(name: string): string {
  return `${tablePath(name)}.sock`;
}

/** The native shared tables, or the typed error that says why there are none here. */
function nativeTables(what: string, backend?: BackendName): NativeBinding['SharedTable'] {
  if (process.platform !== 'linux') {
    throw new PolybookError(
      'POLYBOOK_SHARED_MEMORY_UNSUPPORTED',
      `polybook: ${what} needs Linux (a shared-memory file in ${SHM_DIR} and futexes); on ${process.platform}, run a BookCache in each process (or its worker mode) instead`,
    );
  }
  if (backend === 'js') {
    throw new PolybookError(
      'POLYBOOK_SHARED_MEMORY_UNSUPPORTED',
      `polybook: ${what} maps the server's shared memory through the native addon; the pure-TypeScript backend (backend 'js' or POLYBOOK_BACKEND=js) cannot: leave the backend to its default or ask for 'native'`,
    );
  }
  const loaded = loadedNative();
  if ('binding' in loaded && typeof loaded.binding.SharedTable === 'function') return loaded.binding.SharedTable;
  const why =
    'error' in loaded ? (loaded.error.message.split('\n')[0] ?? '') : 'the binary has no shared-memory support';
  throw new PolybookError(
    'POLYBOOK_SHARED_MEMORY_UNSUPPORTED',
    `polybook: ${what} maps shared memory through the native addon, which does not load here (${why}); install the platform package (or build with 'npm run build:native')`,
    'error' in loaded ? { cause: loaded.error } : undefined,
  );
}

/** A native error `[kind] message` as the typed error of its kind (`creating`: a server making its file). */
function nativeError(e: unknown, name: string, path: string, creating = false): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^\[(\w+)\] (.*)$/s.exec(msg);
  const [kind, text] = m ? [m[1], m[2]] : ['io', msg];
  switch (kind) {
    case 'not_found':
      if (creating) {
        return new PolybookError(
          'POLYBOOK_SHARED_MEMORY',
          `polybook: cannot create the book server file ${path}: ${text} (is ${SHM_DIR} mounted?)`,
          { cause: e },
        );
      }
      return notFound(name, `${path} does not exist`);
    case 'in_use':
      return new PolybookError(
        'POLYBOOK_SERVER_IN_USE',
        `polybook: a book server named "${name}" is already running (${text}); stop it, or choose another name`,
      );
    case 'unsafe':
      return new PolybookError(
        'POLYBOOK_SERVER_UNSAFE',
        `polybook: refusing the book server file ${text}; it was not made by a polybook server of this user: remove it`,
      );
    case 'too_small':
      return new PolybookError(
        'POLYBOOK_LAYOUT_MISMATCH',
        `polybook: ${text}; remove it, or give the server another name`,
      );
    case 'full':
      return new PolybookError(
        'POLYBOOK_CAPACITY',
        `polybook: cannot watch books of server "${name}": ${text} (${WAITER_LIMIT} processes watch it); stop watches in other processes`,
      );
    case 'unsupported':
      return new PolybookError('POLYBOOK_SHARED_MEMORY_UNSUPPORTED', `polybook: ${text}`);
    default:
      return new PolybookError(
        'POLYBOOK_SHARED_MEMORY',
        `polybook: book server "${name}": ${text}${/No space/i.test(text) ? ` (is ${SHM_DIR} full? docker: --shm-size)` : ''}`,
        { cause: e },
      );
  }
}

const WAITER_LIMIT = 256;

function notFound(name: string, why: string): PolybookError {
  return new PolybookError(
    'POLYBOOK_SERVER_NOT_FOUND',
    `polybook: no book server named "${name}" is running (${why}); start one with 'polybook serve --name ${name}' or BookServer.start({ name: '${name}' })`,
  );
}

/** Who maps the file: the server's main thread, its feed worker, or a reader in another process. */
export type MemoryRole = 'server' | 'worker' | 'reader';

/**
 * One mapping of a server's table file in this thread. Registers the table layer's hooks for its
 * buffer: wakes and waits go through futexes, the coarse clock is the server's native ticker.
 */
export class ServerMemory implements MappedTable {
  /** The mapped file (kept for as long as a view, a writer or a thread uses it). */
  readonly buffer: ArrayBuffer;
  readonly capacity: number;
  readonly depth: number;
  /** Where the parts of the server region start. */
  readonly region: ReturnType<typeof serverRegion>;
  /** The header as i32 words. */
  readonly header: Int32Array;
  private tickerRefs = 0;
  private closed = false;

  private constructor(
    private readonly native: NativeSharedTable,
    buffer: ArrayBuffer,
    /** The server name. */
    readonly name: string,
    readonly role: MemoryRole,
    geometry?: { capacity: number; depth: number },
  ) {
    this.buffer = buffer;
    this.header = new Int32Array(this.buffer, 0, HEADER_BYTES / 4);
    const g = geometry ?? tableGeometry(this.buffer);
    this.capacity = g.capacity;
    this.depth = g.depth;
    this.region = serverRegion(g.capacity, g.depth, STATS_WORDS);
    registerMapped(this.buffer, this);
  }

  /**
   * Creates a server's table file (not yet under its name: write the header, then
   * {@link ServerMemory.publish}). @throws PolybookError `POLYBOOK_SERVER_IN_USE` when a live server has the name.
   */
  static create(name: string, capacity: number, depth: number): ServerMemory {
    const tables = nativeTables('BookServer');
    const path = tablePath(name);
    const { bytes } = serverRegion(capacity, depth, STATS_WORDS);
    let native: NativeSharedTable;
    try {
      native = tables.create(path, bytes);
    } catch (e) {
      throw nativeError(e, name, path, true);
    }
    return new ServerMemory(native, native.buffer() as ArrayBuffer, name, 'server', { capacity, depth });
  }

  /**
   * Maps the table of a running server (`reader`, or the server's own feed `worker`), after
   * checking that it is one: this user's, owner-only, a polybook table of this layout version.
   * @throws PolybookError `POLYBOOK_SERVER_NOT_FOUND`, `POLYBOOK_LAYOUT_MISMATCH`, `POLYBOOK_SERVER_UNSAFE`,
   *   `POLYBOOK_SHARED_MEMORY_UNSUPPORTED`.
   */
  static open(name: string, role: 'reader' | 'worker', backend?: BackendName): ServerMemory {
    const what = role === 'reader' ? 'attaching to a book server' : 'the book server feed worker';
    const tables = nativeTables(what, backend);
    const path = tablePath(name);
    let native: NativeSharedTable;
    try {
      native = tables.open(path);
    } catch (e) {
      throw nativeError(e, name, path);
    }
    try {
      const buffer = native.buffer() as ArrayBuffer;
      checkHeader(buffer, name, path);
      const m = new ServerMemory(native, buffer, name, role);
      if (native.bytes < m.region.bytes) {
        throw new PolybookError(
          'POLYBOOK_LAYOUT_MISMATCH',
          `polybook: ${path} is smaller than its header says (${native.bytes} < ${m.region.bytes} bytes): not a table of this polybook version; run the same version in the server and here`,
        );
      }
      return m;
    } catch (e) {
      native.close();
      throw e;
    }
  }

  /** The file's name. */
  get path(): string {
    return this.native.path;
  }

  /** Bytes mapped. */
  get bytes(): number {
    return this.native.bytes;
  }

  /** The server state word: `SERVER_RUNNING`, `SERVER_STOPPED`, or 0 before it started. */
  get state(): number {
    return Atomics.load(this.header, H_SERVER_STATE / 4);
  }

  /** The server's generation (1 on a first start under a name, +1 per restart). */
  get generation(): number {
    return this.header[H_SERVER_GENERATION / 4];
  }

  /** The server's process id. */
  get pid(): number {
    return this.header[H_SERVER_PID / 4];
  }

  /** Server side: stamps the header of a new table (after `initTable`). */
  stamp(generation: number): void {
    this.header[H_SERVER_GENERATION / 4] = generation;
    this.header[H_SERVER_PID / 4] = process.pid;
    new Float64Array(this.buffer, H_SERVER_STARTED, 1)[0] = Date.now();
    Atomics.store(this.header, H_SERVER_STATE / 4, SERVER_RUNNING);
  }

  /** Server side: gives the file its name (readers can open it from now on). */
  publish(): void {
    try {
      this.native.publish();
    } catch (e) {
      throw nativeError(e, this.name, tablePath(this.name), true);
    }
  }

  /**
   * Server side, on a clean stop: the heartbeat stops and becomes NaN (readers miss `server_down`
   * at once), the state says stopped, and the name is removed if it is still this file's.
   */
  retire(): void {
    this.native.stopTicker();
    this.tickerRefs = 0;
    Atomics.store(this.header, H_SERVER_STATE / 4, SERVER_STOPPED);
    new Float64Array(this.buffer, H_CLOCK, 1)[0] = Number.NaN;
    this.native.unlink();
  }

  /** A reader's liveness watchdog: the heartbeat turns NaN once older than `boundMs`. */
  startWatchdog(boundMs: number): void {
    this.native.startWatchdog(boundMs, WATCHDOG_PERIOD_MS);
  }

  /** Whether the name now names another file or none (a restarted or stopped server). */
  superseded(): boolean {
    return this.native.superseded();
  }

  /** Stops this mapping's threads. Views over the buffer stay readable. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }

  wake(): void {
    this.native.wake();
  }

  watch(onChange: () => void): () => void {
    let w: { stop(): void };
    try {
      w = this.native.watch(this.region.waiters, onChange);
    } catch (e) {
      throw nativeError(e, this.name, tablePath(this.name));
    }
    return () => w.stop();
  }

  startTicker(): () => void {
    // Only the server ticks: in a reader or the feed worker the clock is the server's.
    if (this.role !== 'server') return () => {};
    if (this.tickerRefs++ === 0) this.native.startTicker(COARSE_PERIOD_MS, this.region.waiters);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.tickerRefs === 0) this.native.stopTicker();
    };
  }
}

/** How often a reader's watchdog looks at the heartbeat, ms (the bound's resolution). */
export const WATCHDOG_PERIOD_MS = 20;

/**
 * Checks the header of a file another process made: a polybook table of this layout version,
 * written by a server that has not stopped.
 */
function checkHeader(buffer: ArrayBuffer, name: string, path: string): void {
  const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  if (i32[H_MAGIC / 4] !== MAGIC) {
    throw new PolybookError(
      'POLYBOOK_LAYOUT_MISMATCH',
      `polybook: ${path} is not a polybook book table; remove it, or give the server another name`,
    );
  }
  const version = i32[H_VERSION / 4];
  if (version !== LAYOUT_VERSION) {
    throw new PolybookError(
      'POLYBOOK_LAYOUT_MISMATCH',
      `polybook: the book server "${name}" writes layout version ${version}, and this polybook reads version ${LAYOUT_VERSION}: run the same polybook version in the server and in its readers`,
    );
  }
  const state = Atomics.load(i32, H_SERVER_STATE / 4);
  if (state === SERVER_STOPPED) throw notFound(name, 'it stopped');
  if (state !== SERVER_RUNNING) {
    throw new PolybookError(
      'POLYBOOK_LAYOUT_MISMATCH',
      `polybook: ${path} is a polybook table but not a running server's; remove it, or give the server another name`,
    );
  }
}
