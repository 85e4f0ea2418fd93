/**
 * The placement planner alone (src/feed/placement.ts): first fit in connection-index order, markets
 * kept together, new connections at the lowest free indexes, and the verdict when they do not fit.
 */
import { describe, expect, it } from 'vitest';
import { planPlacement, type IncomingGroup, type PlacementInput } from '../src/feed/placement.js';

const market = (key: string, n: number): IncomingGroup => ({
  key,
  market: key,
  tokens: Array.from({ length: n }, (_, i) => `${key}-${i}`),
});
const lone = (token: string): IncomingGroup => ({ key: token, market: undefined, tokens: [token] });

function plan(input: Partial<PlacementInput> & Pick<PlacementInput, 'groups'>) {
  return planPlacement({
    connections: [],
    keyConn: new Map(),
    cap: 4,
    freeIndexes: Array.from({ length: 255 }, (_, i) => i + 1),
    ...input,
  });
}

/** `[key, conn]` of each placement, for short assertions. */
function where(p: ReturnType<typeof plan>): [string, number][] {
  if (!p.fits) throw new Error('expected a plan that fits');
  return p.placements.map((x) => [x.group.key, x.conn]);
}

describe('planPlacement', () => {
  it('packs first fit under the cap, the tokens of a market together, opening connections at the lowest free indexes', () => {
    const p = plan({ groups: [market('a', 2), market('b', 3), market('c', 2), lone('x'), market('d', 1)] });
    expect(where(p)).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 1],
      ['x', 2],
      ['d', 3],
    ]);
    expect(p.fits && p.newConnections).toEqual([1, 2, 3]);
  });

  it('fills existing connections before opening one', () => {
    const p = plan({
      connections: [
        { index: 7, room: 1 },
        { index: 2, room: 3 },
      ],
      groups: [market('a', 2), lone('x'), lone('y'), market('b', 3)],
      freeIndexes: [9, 8],
    });
    // Index order: 2 before 7; a new connection takes the lowest free index.
    expect(where(p)).toEqual([
      ['a', 2],
      ['x', 2],
      ['y', 7],
      ['b', 8],
    ]);
    expect(p.fits && p.newConnections).toEqual([8]);
  });

  it('searches the connections it opens in index order with the existing ones', () => {
    // Connection 3 exists with room for one; 1 and 2 are free. The first group opens 1, which then
    // comes before 3 for the next group.
    const p = plan({ connections: [{ index: 3, room: 1 }], groups: [market('a', 3), lone('x')], freeIndexes: [1, 2] });
    expect(where(p)).toEqual([
      ['a', 1],
      ['x', 1],
    ]);
  });

  it("a market's new tokens join its group while its connection has room, else form a group elsewhere", () => {
    const connections = [
      { index: 1, room: 1 },
      { index: 2, room: 4 },
    ];
    const keyConn = new Map([['m', 1]]);
    const fits = plan({ connections, keyConn, groups: [market('m', 1)] });
    expect(fits.fits && fits.placements[0]).toMatchObject({ conn: 1, join: true, displaced: false });
    const full = plan({ connections, keyConn, groups: [market('m', 2)] });
    expect(full.fits && full.placements[0]).toMatchObject({ conn: 2, join: false, displaced: true });
  });

  it('a market named twice in one call joins the group it formed first; lone tokens never join by key', () => {
    const p = plan({
      connections: [{ index: 1, room: 1 }],
      groups: [market('m', 2), lone('y'), { key: 'm', market: 'm', tokens: ['m-9'] }],
      freeIndexes: [2],
    });
    expect(p.fits && p.placements.map((x) => [x.group.key, x.conn, x.join])).toEqual([
      ['m', 2, false],
      ['y', 1, false],
      ['m', 2, true],
    ]);
    // A lone token whose id is a registered key is placed by room alone.
    const q = plan({
      connections: [
        { index: 1, room: 4 },
        { index: 2, room: 4 },
      ],
      keyConn: new Map([['y', 2]]),
      groups: [lone('y')],
    });
    expect(q.fits && q.placements[0]).toMatchObject({ conn: 1, join: false, displaced: false });
  });

  it('reports how many connections it needs when the free indexes do not suffice, and nothing else', () => {
    const p = plan({
      connections: [{ index: 1, room: 1 }],
      groups: [market('a', 4), market('b', 4), market('c', 3), lone('x'), lone('y')],
      freeIndexes: [2, 3],
    });
    // a -> 2, b -> 3, c -> a fourth connection, x -> 1, y -> the fourth.
    expect(p).toEqual({ fits: false, needed: 3, free: 2 });
  });

  it('an empty input is a plan that opens nothing', () => {
    expect(plan({ groups: [] })).toEqual({ fits: true, placements: [], newConnections: [] });
  });
});
