/**
 * Where new tokens go (docs/FEED.md "Sharding"): first fit over the connections in index order, the
 * tokens of a market together, and a market's new tokens on its existing connection while it has
 * room. Pure: the manager gathers the input, applies the plan, and opens the new connections.
 */

/** The new tokens of one market, or one lone token. */
export interface IncomingGroup {
  /** `market` when given, else the (first) token id. */
  readonly key: string;
  readonly market: string | undefined;
  readonly tokens: readonly string[];
}

/** A connection in use (open, connecting or waiting to reconnect). */
export interface ConnectionRoom {
  /** Connection index, 1..255. */
  readonly index: number;
  /** How many more tokens it takes. */
  readonly room: number;
}

/** What {@link planPlacement} works from. */
export interface PlacementInput {
  /** Connections in use, any order. */
  readonly connections: readonly ConnectionRoom[];
  /** Index of the connection of the group already registered under a key (the incoming keys are enough). */
  readonly keyConn: ReadonlyMap<string, number>;
  /** The groups to place, in order. */
  readonly groups: readonly IncomingGroup[];
  /** Tokens per connection. */
  readonly cap: number;
  /** Connection indexes not in use, any order; new connections take the lowest first. */
  readonly freeIndexes: readonly number[];
}

/** Where one incoming group goes. */
export interface Placement {
  readonly group: IncomingGroup;
  /** Connection index. */
  readonly conn: number;
  /** Joins the group registered under `group.key` (on `conn`); otherwise forms a new group on `conn`. */
  readonly join: boolean;
  /** The market already had a group whose connection has no room for these tokens: they form a new group elsewhere. */
  readonly displaced: boolean;
}

/** A plan that fits, or how many new connections it would have needed. */
export type PlacementPlan =
  | {
      readonly fits: true;
      /** One per incoming group, in order. */
      readonly placements: readonly Placement[];
      /** Indexes of the connections to open, ascending. */
      readonly newConnections: readonly number[];
    }
  | {
      readonly fits: false;
      /** New connections the groups need. */
      readonly needed: number;
      /** Connection indexes free. */
      readonly free: number;
    };

/** Indexes of the connections a plan needs beyond the free ones (above any real index). */
const OVERFLOW_INDEX = 2 ** 31;

interface Bin {
  index: number;
  room: number;
}

/**
 * Places `groups`: a market joins its registered group when that connection has room; otherwise
 * the group goes to the first connection in index order with room, counting the connections this
 * plan opens (at the lowest free indexes), and a new connection when none has. A group created
 * here registers its key if no group holds it yet, so a market named twice in one call stays together.
 */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const { cap, groups } = input;
  const bins: Bin[] = input.connections
    .map((c) => ({ index: c.index, room: c.room }))
    .sort((a, b) => a.index - b.index);
  const byIndex = new Map<number, Bin>(bins.map((b) => [b.index, b]));
  const free = [...input.freeIndexes].sort((a, b) => a - b);
  const keyConn = new Map(input.keyConn);
  const placements: Placement[] = [];
  const opened: number[] = [];
  let overflow = 0;

  /** Opens a connection at the lowest free index (past them: one that sorts last and fails the plan). */
  const open = (): Bin => {
    let index: number;
    if (opened.length < free.length) {
      index = free[opened.length];
      opened.push(index);
    } else index = OVERFLOW_INDEX + overflow++;
    const bin = { index, room: cap };
    let at = bins.length;
    while (at > 0 && bins[at - 1].index > index) at--;
    bins.splice(at, 0, bin);
    byIndex.set(index, bin);
    return bin;
  };

  for (const group of groups) {
    const n = group.tokens.length;
    const home = group.market !== undefined ? keyConn.get(group.key) : undefined;
    const homeBin = home !== undefined ? byIndex.get(home) : undefined;
    if (homeBin && homeBin.room >= n) {
      homeBin.room -= n;
      placements.push({ group, conn: homeBin.index, join: true, displaced: false });
      continue;
    }
    const bin = bins.find((b) => b.room >= n) ?? open();
    bin.room -= n;
    if (!keyConn.has(group.key)) keyConn.set(group.key, bin.index);
    placements.push({ group, conn: bin.index, join: false, displaced: home !== undefined });
  }
  if (overflow > 0) return { fits: false, needed: opened.length + overflow, free: free.length };
  return { fits: true, placements, newConnections: opened };
}
