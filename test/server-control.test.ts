/**
 * The control channel of a book server treats its input as hostile: malformed, oversized,
 * unknown or out-of-order requests get an error reply (or, for an oversized line, a closed
 * connection), never crash the server and never touch another client's tokens.
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../src/server/protocol.js';
import { waitFor } from './helpers.js';
import { groupsOf, simulator } from './rig.js';
import { helloLine as hello, localServer, rawClient, serverName } from './server-rig.js';

describe('the control channel', () => {
  it('answers hostile input with errors, keeps serving, and never touches another client', async () => {
    const sim = await simulator({ markets: 3, rate: 0, seed: 4 });
    const name = serverName('hostile');
    const server = await localServer({ name, url: sim.url, universe: groupsOf(sim).slice(0, 1) });
    const [x, y] = groupsOf(sim)
      .slice(1)
      .map((g) => g.tokens[0]);

    const good = await rawClient(name);
    good.send(hello(1));
    expect((await good.next()).ok).toBe(true);
    good.send(JSON.stringify({ id: 2, op: 'acquire', universe: [x] }));
    expect(await good.next()).toMatchObject({ id: 2, ok: true, result: { added: 1, held: 1 } });

    const bad = await rawClient(name);
    const refused = async (line: string, code = 'POLYBOOK_CONTROL') => {
      bad.send(line);
      const r = await bad.next();
      expect(r.ok, line.slice(0, 80)).toBe(false);
      expect(r.error?.code).toBe(code);
      return r;
    };
    await refused('not json');
    await refused('[1,2,3]');
    await refused(JSON.stringify({ op: 'hello' }));
    await refused(JSON.stringify({ id: -1, op: 'hello' }));
    expect((await refused(JSON.stringify({ id: 7, op: 'acquire', universe: [y] }))).error?.message).toMatch(
      /hello first/,
    );
    await refused(
      JSON.stringify({ id: 8, op: 'hello', protocol: PROTOCOL_VERSION, layoutVersion: 99 }),
      'POLYBOOK_LAYOUT_MISMATCH',
    );
    // A version mismatch ends the connection.
    await bad.closed;

    const evil = await rawClient(name);
    evil.send(hello(1));
    expect((await evil.next()).ok).toBe(true);
    const no = async (line: string) => {
      evil.send(line);
      const r = await evil.next();
      expect(r.ok, line.slice(0, 80)).toBe(false);
      return r.error?.message ?? '';
    };
    expect(await no(JSON.stringify({ id: 2, op: 'shutdown' }))).toMatch(/unknown operation/);
    expect(await no(JSON.stringify({ id: 3, op: '__proto__' }))).toMatch(/unknown operation/);
    expect(await no(JSON.stringify({ id: 4, op: 'acquire', universe: 'everything' }))).toMatch(/array/);
    expect(await no(JSON.stringify({ id: 5, op: 'acquire', universe: ['a b'] }))).toMatch(/not a token id/);
    expect(await no(JSON.stringify({ id: 6, op: 'acquire', universe: ['9'.repeat(500)] }))).toMatch(/not a token id/);
    expect(await no(JSON.stringify({ id: 7, op: 'acquire', universe: [{ market: 1, tokens: [y] }] }))).toMatch(
      /market/,
    );
    expect(await no(JSON.stringify({ id: 8, op: 'acquire', universe: [{ tokens: [null] }] }))).toMatch(
      /not a token id/,
    );
    expect(await no(JSON.stringify({ id: 9, op: 'release', tokens: 'x' }))).toMatch(/tokens/);
    expect(await no(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)).toMatch(/./);
    // Releasing what another client holds does nothing.
    evil.send(JSON.stringify({ id: 10, op: 'release', tokens: [x, x, x] }));
    expect(await evil.next()).toMatchObject({ id: 10, ok: true, result: { released: 0, held: 0 } });
    expect(server.cache.refCount(x)).toBe(1);
    expect(server.clients().find((c) => c.pid === 1 && c.tokens === 1)).toBeDefined();
    // An oversized line closes its connection (its framing is lost); nothing else is affected.
    evil.socket.write(Buffer.alloc(9 * 2 ** 20, 0x61));
    const last = await evil.next();
    expect(last.error?.message).toMatch(/longer than/);
    await evil.closed;

    good.send(JSON.stringify({ id: 3, op: 'universe' }));
    const u = await good.next();
    expect(u).toMatchObject({ id: 3, ok: true, result: { tokens: 3 } });
    good.send(JSON.stringify({ id: 4, op: 'metrics' }));
    expect((await good.next()).result).toMatchObject({ clients: 1, tradingEnabled: true });
    good.send(JSON.stringify({ id: 5, op: 'warmup' }));
    expect((await good.next()).result).toMatchObject({ tradingEnabled: true, result: { ready: 2, total: 2 } });
    // The good client goes away: its token is released, the server's own stay.
    good.socket.destroy();
    await waitFor(() => server.cache.refCount(x) === 0, "the client's token released");
    expect(server.cache.tokens()).toEqual(groupsOf(sim)[0].tokens);
  });
});
