/**
 * `polybook serve` and `polybook watch --attach` as a person uses them: the built bin in two
 * processes, the server on its built-in simulator.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tablePath, socketPath } from '../src/server/memory.js';
import { afterTest } from './rig.js';
import { removeServerFiles, serverName } from './server-rig.js';
import { waitFor } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/polybook.js', import.meta.url));

function command(args: string[]): {
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
  kill: (s: NodeJS.Signals) => void;
} {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, POLYBOOK_BACKEND: '' } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const done = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  afterTest(async () => {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await done;
  });
  return { out: () => out, err: () => err, done, kill: (s) => p.kill(s) };
}

describe('polybook serve', () => {
  it('prints where it listens and how to attach; watch --attach shows its books; Ctrl-C removes the names', async () => {
    const name = serverName('cli');
    afterTest(() => removeServerFiles(name));
    const server = command(['serve', '--name', name, '--markets', '5', '--rate', '50', '--no-state']);
    await waitFor(() => server.out().includes('Ctrl-C stops'), 'the server to say how to attach', 30_000);
    expect(server.out()).toContain(`books:   ${tablePath(name)}`);
    expect(server.out()).toContain(`control: ${socketPath(name)}`);
    expect(server.out()).toContain(`polybook watch --attach ${name}`);
    expect(server.out()).toContain(`BookCache.connect('${name}'`);

    const watch = command(['watch', '--attach', name, '--json', '--duration', '2']);
    expect(await watch.done).toBe(0);
    const lines = watch
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    expect(last.total).toBe(10);
    expect(last.ready).toBe(10);
    expect(Object.values(last.books).filter((b) => (b as { bestBid: number | null }).bestBid !== null).length).toBe(10);
    expect(watch.err()).toContain(`attached to book server "${name}"`);

    server.kill('SIGINT');
    expect(await server.done).toBe(0);
    expect(server.out()).toMatch(/server ".*" stopped: 10\/10 ready/);
    expect(existsSync(tablePath(name))).toBe(false);
    expect(existsSync(socketPath(name))).toBe(false);
  }, 60_000);

  it('--help says how to serve and attach', async () => {
    const serve = command(['serve', '--help']);
    expect(await serve.done).toBe(0);
    expect(serve.out()).toMatch(/Usage: polybook serve --name NAME/);
    const watch = command(['watch', '--help']);
    expect(await watch.done).toBe(0);
    expect(watch.out()).toMatch(/--attach NAME/);
  });

  it('refuses bad usage with exit code 2', async () => {
    const none = command(['serve']);
    expect(await none.done).toBe(2);
    expect(none.err()).toContain('serve needs --name NAME');
    const bad = command(['serve', '--name', '../x']);
    expect(await bad.done).toBe(2);
    const mixed = command(['watch', '--attach', 'x', '--markets', '5']);
    expect(await mixed.done).toBe(2);
    expect(mixed.err()).toContain('--markets belongs to');
    const missing = command(['watch', '--attach', serverName('none')]);
    expect(await missing.done).toBe(1);
    expect(missing.err()).toContain('no book server named');
  }, 60_000);
});
