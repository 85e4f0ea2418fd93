/**
 * A book server's state file (docs/SERVER.md): what it held and what discovery told it, so that a
 * restarted server subscribes the same universe at once, without discovery calls. Never books: a
 * stored book is stale by definition; the books come from the feed again.
 *
 * JSON, owner-only (mode 0600, in a 0700 directory), written atomically (a temporary file renamed
 * over it) on stop and every `stateIntervalMs`.
 */
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MarketGroup } from '../cache/universe.js';
import type { DiscoveredMarket } from '../discovery/normalize.js';

/** Version of the state file format. */
export const STATE_VERSION = 1;

/** What a state file holds. */
export interface ServerState {
  /** {@link STATE_VERSION}. */
  version: number;
  /** The server name. */
  name: string;
  /** When it was written, ms since 1970. */
  savedAt: number;
  /** The generation of the server that wrote it (the next start is this + 1). */
  generation: number;
  /** The universe option the server was started with (JSON), or null: a restart with another one runs discovery again. */
  spec: string | null;
  /** Tokens of the server's own universe, by market. */
  own: MarketGroup[];
  /** Tokens only clients held, by market: subscribed again at a restart for the clients to come back to. */
  clients: MarketGroup[];
  /** What discovery described of the held markets (tick size, neg risk, minimum order size...). */
  markets: DiscoveredMarket[];
  /** Tokens disabled for the session (a warmup gave up on them): disabled again at a restart. */
  disabled: string[];
  /** Last tick size of each token whose book stated one. */
  tickSizes: Record<string, number>;
}

/** Where the state of server `name` is kept by default: `~/.local/state/polybook/NAME.json`. */
export function defaultStateFile(name: string): string {
  return join(homedir(), '.local', 'state', 'polybook', `${name}.json`);
}

/** The fingerprint of a universe option (state files record it). */
export function specOf(universe: unknown): string | null {
  return universe === undefined ? null : JSON.stringify(universe);
}

const isGroups = (v: unknown): v is MarketGroup[] =>
  Array.isArray(v) &&
  v.every(
    (g) =>
      g !== null &&
      typeof g === 'object' &&
      (g.market === undefined || typeof g.market === 'string') &&
      Array.isArray(g.tokens) &&
      g.tokens.every((t: unknown) => typeof t === 'string' && t.length > 0),
  );

/**
 * Reads a state file: the state, or why it is not used (missing, unreadable, of another name or
 * version, written for another universe option). Never throws.
 */
export async function readState(
  path: string,
  name: string,
  spec: string | null,
): Promise<{ state: ServerState } | { reason: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { reason: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'none' : `unreadable (${(e as Error).message})` };
  }
  let s: Partial<ServerState>;
  try {
    s = JSON.parse(text) as Partial<ServerState>;
  } catch {
    return { reason: 'not JSON' };
  }
  if (s === null || typeof s !== 'object' || s.version !== STATE_VERSION) return { reason: 'another format version' };
  if (s.name !== name) return { reason: `written for server "${String(s.name)}"` };
  if ((s.spec ?? null) !== spec) return { reason: 'written for another universe option' };
  if (!isGroups(s.own) || !isGroups(s.clients)) return { reason: 'malformed universe' };
  return {
    state: {
      version: STATE_VERSION,
      name,
      savedAt: typeof s.savedAt === 'number' ? s.savedAt : 0,
      generation: Number.isInteger(s.generation) && (s.generation as number) > 0 ? (s.generation as number) : 0,
      spec,
      own: s.own,
      clients: s.clients,
      markets: Array.isArray(s.markets) ? s.markets.filter((m) => m && typeof m.conditionId === 'string') : [],
      disabled: Array.isArray(s.disabled) ? s.disabled.filter((t): t is string => typeof t === 'string') : [],
      tickSizes: s.tickSizes && typeof s.tickSizes === 'object' ? s.tickSizes : {},
    },
  };
}

/** Writes a state file atomically, owner-only. */
export async function writeState(path: string, state: ServerState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}
