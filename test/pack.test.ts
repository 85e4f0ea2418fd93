/**
 * The package as users get it (issue 8). Packs polybook and this machine's binary package
 * (npm/<target>) the way the release workflow publishes them (`napi prepublish` adds the platform
 * packages as optional dependencies), installs both tarballs into a fresh project outside the
 * repository, and runs plain Node there: `import 'polybook'`, the native backend, the type
 * declarations, the `polybook` command; then, with the binary package gone (`--omit=optional`), the
 * pure-TypeScript backend with its one-line notice.
 *
 * Installs are `--offline`, so they need nothing beyond what `npm ci` put in the npm cache: the
 * only runtime dependency, ws, is installed alongside as the tarball this repository's lockfile
 * pins (a cache filled by `npm ci` alone cannot resolve a range like ^8.23.0 offline; npm still
 * checks that the tarball satisfies polybook's range). The binary packages of other targets are
 * not fetched.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTriple } from '@napi-rs/cli';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
  napi: { binaryName: string; targets: string[] };
};
const { name: NAME, version: VERSION } = rootManifest;
const BINARY = rootManifest.napi.binaryName;
const TARGETS = rootManifest.napi.targets.map((t) => parseTriple(t));
const STEP_TIMEOUT = 180_000;

/** This machine's napi target (`linux-x64-gnu`, `darwin-arm64`, ...), as the generated loader picks it. */
function hostTarget(): string {
  const musl =
    process.platform === 'linux' &&
    !(process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header
      ?.glibcVersionRuntime;
  const t = TARGETS.find(
    (t) =>
      t.platform === process.platform &&
      t.arch === process.arch &&
      (t.platform !== 'linux' || t.abi === (musl ? 'musl' : 'gnu')),
  );
  if (!t)
    throw new Error(`no napi target in package.json for ${process.platform}-${process.arch}${musl ? '-musl' : ''}`);
  return t.platformArchABI;
}
const HOST = hostTarget();
const HOST_PKG = `${NAME}-${HOST}`;
const HOST_BINARY = join(ROOT, 'native', `${BINARY}.${HOST}.node`);

/** Whether `p` is `dir` or below it. */
function isInside(p: string, dir: string): boolean {
  const rel = relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The environment of a user's shell: nothing from this repository's npm run, vitest or polybook settings. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|init_cwd$|node_path$|node_options$|node_env$|vitest|test$|polybook_|book_store_|hft_book_cache)/i.test(
        k,
      )
    )
      continue;
    env[k] = v;
  }
  const pathKey = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
  env[pathKey] = (env[pathKey] ?? '')
    .split(delimiter)
    .filter((p) => p && !p.includes(`node_modules${sep}.bin`) && !isInside(resolve(p), ROOT))
    .join(delimiter);
  return { ...env, ...extra };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (npm through the shell on Windows, where it is npm.cmd); never throws. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv()): Run {
  const opts = { cwd, env, encoding: 'utf8', timeout: 150_000, maxBuffer: 64 * 1024 * 1024 } as const;
  const r: SpawnSyncReturns<string> =
    process.platform === 'win32' && cmd === 'npm'
      ? spawnSync([cmd, ...args.map((a) => (/[\s&()^|<>"]/.test(a) ? `"${a}"` : a))].join(' '), {
          ...opts,
          shell: true,
        })
      : spawnSync(cmd, args, opts);
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link run}, and fails the test with the command's output unless it exits 0. */
function ok(cmd: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Run {
  const r = run(cmd, args, cwd, env);
  if (r.status !== 0) {
    throw new Error(
      `'${cmd} ${args.join(' ')}' in ${cwd} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

interface PackResult {
  filename: string;
  size: number;
  files: { path: string }[];
}
const packJson = (stdout: string): PackResult => {
  // npm may print notices before the JSON array.
  const parsed = JSON.parse(stdout.slice(stdout.indexOf('['))) as PackResult[];
  expect(parsed).toHaveLength(1);
  return parsed[0]!;
};

/** The files of the main package (`npm pack --dry-run`, without running `prepare`). */
const dryRun = () => packJson(ok('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT).stdout);

/** What the published main package may contain: the build, the command, the loader, docs, benchmark results, fixtures. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^bin\/polybook\.js$/,
  /^native\/binding\.cjs$/,
  /^dist\/.+\.(js|d\.ts)$/,
  /^docs\/[^/]+\.md$/,
  /^bench\/RESULTS\.md$/,
  /^fixtures\/polymarket\/(rest\/)?[^/]+\.(json|txt|md)$/,
];
const REQUIRED = [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'bin/polybook.js',
  'native/binding.cjs',
  'dist/index.js',
  'dist/index.d.ts',
  'dist/tools/cli.js',
  'dist/feed/worker-entry.js',
];

/** `>=a.b[.c]` against `process.version`. */
function satisfiesMin(range: string, version: string): boolean {
  const m = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range);
  if (!m) throw new Error(`engines.node should be a plain '>=' range, got ${range}`);
  const want = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  const have = version.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i]! > want[i]!;
  return true;
}

/** The URL of the ws tarball `npm ci` installed (and cached) for this repository. */
function wsTarball(): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; resolved?: string }>;
  };
  const ws = lock.packages['node_modules/ws'];
  if (!ws?.version) throw new Error('package-lock.json pins no node_modules/ws');
  if (ws.resolved) return ws.resolved;
  // The lockfile omits registry URLs: npm ci fetched it from the configured registry.
  const registry = ok('npm', ['config', 'get', 'registry'], ROOT).stdout.trim().replace(/\/?$/, '/');
  return `${registry}ws/-/ws-${ws.version}.tgz`;
}

const FIXTURE = join(ROOT, 'fixtures', 'polymarket', 'book_opening_snapshot_2026-10-04.json');
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
  asset_id: string;
  bids: { price: string; size: string }[];
  asks: { price: string; size: string }[];
};

/** A user's script: two stores (the notice is per process), a snapshot frame, a read. */
const CONSUMER_MJS = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BookStore, nativeAvailability } from 'polybook';

const frame = readFileSync(new URL('./book.json', import.meta.url));
const tokenId = JSON.parse(frame.toString('utf8')).asset_id;
const reads = [new BookStore(), new BookStore()].map((store) => {
  store.subscribe([tokenId]);
  const rc = store.ingest(frame);
  const book = store.get(tokenId, 5000);
  return {
    backend: store.backend,
    rc,
    book: book && { bestBid: book.bestBid, bestAsk: book.bestAsk, bids: book.bids.length, asks: book.asks.length, top: [book.bids[0], book.asks[0]] },
  };
});
let binaryPackage = null;
try {
  binaryPackage = createRequire(import.meta.url).resolve(process.argv[2]);
} catch {}
process.stdout.write(JSON.stringify({
  resolved: import.meta.resolve('polybook'),
  nativeAvailable: nativeAvailability().available,
  binaryPackage,
  reads,
}));
`;

/** CommonJS users: \`require('polybook')\` through Node's require(esm). */
const CONSUMER_CJS = `
const { BookStore } = require('polybook');
process.stdout.write(String(new BookStore({ backend: 'js' }).backend));
`;

/** TypeScript users: the declarations resolve through the exports map. */
const CONSUMER_TS = `
import {
  BookCache,
  BookStore,
  PolybookError,
  registerPrometheus,
  startSimulator,
  type Book,
  type BackendName,
  type ErrorCode,
  type MissName,
} from 'polybook';
import type { CacheHealth, MetricsServer, PrometheusRegistry } from 'polybook';
const store = new BookStore({ maxDepth: 5 });
const backend: BackendName = store.backend;
const book: Book | null = store.get('1', 250);
export const bid: number | null | undefined = book?.bestBid;
export const reason: MissName | null = store.handle('1').missReason;
export { backend };

// Internal members are not part of the published types.
// @ts-expect-error internal
store.bindAt('1', 0);
// @ts-expect-error internal
export const w = store.writer;

export async function run(signal: AbortSignal): Promise<ErrorCode | undefined> {
  await using sim = await startSimulator({ markets: 1, rate: 0 });
  await using cache = await BookCache.start({ url: sim.url, universe: [...sim.tokens], signal });
  await cache.warmup({ signal });
  // @ts-expect-error internal
  cache.gate;
  try {
    await cache.acquire([sim.tokens[0]!], { signal });
  } catch (e) {
    if (e instanceof PolybookError) return e.code;
  }
  return undefined;
}

// The metrics API types without prom-client installed.
export async function serve(cache: BookCache, registry: PrometheusRegistry): Promise<[MetricsServer, CacheHealth]> {
  await registerPrometheus(cache, registry);
  return [await cache.serveMetrics({ port: 0 }), cache.health()];
}
`;

/** A user without prom-client, OpenTelemetry or pino: metrics as text and over HTTP; the bridges say what to install. */
const OPTIONAL_MJS = `
import { BookCache, MissingDependencyError, registerOpenTelemetry, registerPrometheus } from 'polybook';

const resolvable = {};
for (const name of ['prom-client', '@opentelemetry/api', 'pino']) {
  try {
    import.meta.resolve(name);
    resolvable[name] = true;
  } catch {
    resolvable[name] = false;
  }
}
const cache = await BookCache.start({ enabled: false });
cache.get('1');
const text = cache.prometheus();
const server = await cache.serveMetrics({ port: 0 });
const metrics = await fetch(server.url + '/metrics');
const health = await fetch(server.url + '/healthz');
const bridges = {};
for (const [name, call] of [['prometheus', () => registerPrometheus(cache)], ['openTelemetry', () => registerOpenTelemetry(cache)]]) {
  try {
    await call();
    bridges[name] = null;
  } catch (e) {
    bridges[name] = { name: e.name, code: e.code, dependency: e.dependency, typed: e instanceof MissingDependencyError, message: e.message };
  }
}
await cache.stop();
process.stdout.write(JSON.stringify({
  resolvable,
  text,
  metrics: { status: metrics.status, type: metrics.headers.get('content-type'), body: await metrics.text() },
  health: { status: health.status, body: await health.json() },
  bridges,
}));
`;

interface ConsumerOutput {
  resolved: string;
  nativeAvailable: boolean;
  binaryPackage: string | null;
  reads: {
    backend: string;
    rc: number;
    book: null | { bestBid: number; bestAsk: number; bids: number; asks: number; top: unknown[] };
  }[];
}

describe('the published package, installed outside the repository', () => {
  const work = realpathSync.native(mkdtempSync(join(tmpdir(), 'polybook-pack-')));
  const stage = join(work, 'stage', 'package');
  const tarballs = join(work, 'tarballs');
  const app = join(work, 'app');
  let mainTgz = '';
  let hostTgz = '';
  let expectedFiles: string[] = [];

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack lists only the files meant for users, and the manifest is complete', () => {
    const files = dryRun().files.map((f) => f.path.replaceAll('\\', '/'));
    expectedFiles = files;
    const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
    expect(unexpected, 'files npm pack would publish but should not').toEqual([]);
    for (const f of REQUIRED) expect(files, `${f} must be published`).toContain(f);
    expect(
      files.filter(
        (f) =>
          (/^(src|test|target|bench|scripts|npm|native\/(src|core)|\.github|\.ci)\//.test(f) &&
            f !== 'bench/RESULTS.md') ||
          f.endsWith('.node') ||
          f.endsWith('.map'),
      ),
    ).toEqual([]);

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} polybook contributors\n/,
    );
    expect(pkg.type).toBe('module');
    expect(pkg.exports['.']).toEqual({
      types: './dist/index.d.ts',
      import: './dist/index.js',
      default: './dist/index.js',
    });
    for (const p of [pkg.main, pkg.types, pkg.bin.polybook, pkg.exports['.'].types, pkg.exports['.'].import]) {
      expect(files, `${p} is referenced by package.json`).toContain(p.replace(/^\.\//, ''));
    }
    expect(Object.keys(pkg.dependencies)).toEqual(['ws']);
    // The metric bridges' packages are optional peers: never installed with polybook.
    expect(Object.keys(pkg.peerDependencies ?? {}).sort()).toEqual(['@opentelemetry/api', 'prom-client']);
    for (const peer of Object.keys(pkg.peerDependencies))
      expect(pkg.peerDependenciesMeta?.[peer]).toEqual({ optional: true });
    // No install-time scripts: installing polybook never compiles anything.
    for (const s of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts?.[s], s).toBeUndefined();
    // The engines range is what the tests run on: this Node must satisfy it.
    expect(
      satisfiesMin(pkg.engines.node, process.version),
      `${process.version} vs engines.node ${pkg.engines.node}`,
    ).toBe(true);
    expect(existsSync(join(ROOT, 'CHANGELOG.md'))).toBe(true);
  });

  it("the README's install section names every binary package and the Node range", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const install = /^## Install\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    expect(install).toContain(`npm install ${NAME}`);
    for (const t of TARGETS) expect(install, t.platformArchABI).toContain(`| \`${NAME}-${t.platformArchABI}\` |`);
    expect(install).toContain(`Node.js ${rootManifest.engines.node.replace(/^>=\s*/, '')} or later`);
    expect(install).toContain('POLYBOOK_BACKEND=js');
  });

  it('every napi target has its platform package, consistent with the main package', () => {
    const dirs = readdirSync(join(ROOT, 'npm')).sort();
    expect(dirs).toEqual(TARGETS.map((t) => t.platformArchABI).sort());
    for (const t of TARGETS) {
      const m = JSON.parse(readFileSync(join(ROOT, 'npm', t.platformArchABI, 'package.json'), 'utf8'));
      const file = `${BINARY}.${t.platformArchABI}.node`;
      expect(m.name).toBe(`${NAME}-${t.platformArchABI}`);
      expect(m.version, `${m.name} version`).toBe(VERSION);
      expect(m.main).toBe(file);
      expect(m.files).toEqual([file]);
      expect(m.os).toEqual([t.platform]);
      expect(m.cpu).toEqual([t.arch]);
      if (t.platform === 'linux') expect(m.libc, `${m.name} libc`).toEqual([t.abi === 'musl' ? 'musl' : 'glibc']);
      else expect(m.libc).toBeUndefined();
      expect(m.engines).toEqual(rootManifest.engines);
      expect(m.license).toBe('MIT');
      expect(existsSync(join(ROOT, 'npm', t.platformArchABI, 'README.md'))).toBe(true);
    }
    for (const req of [
      'linux-x64-gnu',
      'linux-x64-musl',
      'linux-arm64-gnu',
      'darwin-x64',
      'darwin-arm64',
      'win32-x64-msvc',
    ]) {
      expect(dirs).toContain(req);
    }
  });

  it(
    'napi prepublish wires the platform packages as optional dependencies; both tarballs pack',
    () => {
      expect(existsSync(HOST_BINARY), `${HOST_BINARY} is missing: run 'npm run build:native' first`).toBe(true);
      // Stage the package as the publish job has it: the packed files, npm/ with the binaries that
      // `napi artifacts` moved in. Only this machine's binary is real; the others are placeholders,
      // present because `napi prepublish` checks every target's artifact and never installed here.
      for (const f of expectedFiles) {
        mkdirSync(dirname(join(stage, f)), { recursive: true });
        cpSync(join(ROOT, f), join(stage, f));
      }
      cpSync(join(ROOT, 'npm'), join(stage, 'npm'), { recursive: true });
      for (const t of TARGETS) {
        const dest = join(stage, 'npm', t.platformArchABI, `${BINARY}.${t.platformArchABI}.node`);
        if (t.platformArchABI === HOST) cpSync(HOST_BINARY, dest);
        else writeFileSync(dest, '');
      }
      const napi = join(dirname(createRequire(import.meta.url).resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
      ok(process.execPath, [napi, 'prepublish', '-t', 'npm', '--skip-optional-publish', '--no-gh-release'], stage);

      const staged = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'));
      expect(staged.optionalDependencies).toEqual(
        Object.fromEntries(TARGETS.map((t) => [`${NAME}-${t.platformArchABI}`, VERSION])),
      );

      mkdirSync(tarballs, { recursive: true });
      const main = packJson(
        ok('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], stage).stdout,
      );
      expect(main.files.map((f) => f.path.replaceAll('\\', '/')).sort()).toEqual([...expectedFiles].sort());
      expect(main.size, 'main tarball size (no binaries inside)').toBeLessThan(1_000_000);
      const host = packJson(
        ok('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], join(stage, 'npm', HOST))
          .stdout,
      );
      expect(host.files.map((f) => f.path).sort()).toEqual(
        ['README.md', `${BINARY}.${HOST}.node`, 'package.json'].sort(),
      );
      mainTgz = join(tarballs, main.filename);
      hostTgz = join(tarballs, host.filename);
    },
    STEP_TIMEOUT,
  );

  it(
    `installed with ${HOST_PKG}: import works and the native backend runs`,
    () => {
      expect(mainTgz && hostTgz, 'the tarballs of the previous step').toBeTruthy();
      // A fresh project with no way back to the repository: no node_modules above it.
      mkdirSync(app, { recursive: true });
      expect(isInside(app, ROOT), `${app} must be outside ${ROOT}`).toBe(false);
      for (let d = dirname(app); d !== parse(d).root; d = dirname(d)) {
        expect(existsSync(join(d, 'node_modules')), `${d}/node_modules would be visible to the project`).toBe(false);
      }
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'polybook-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2),
      );
      writeFileSync(join(app, 'consumer.mjs'), CONSUMER_MJS);
      writeFileSync(join(app, 'consumer.cjs'), CONSUMER_CJS);
      writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
      writeFileSync(join(app, 'optional.mjs'), OPTIONAL_MJS);
      cpSync(FIXTURE, join(app, 'book.json'));
      ok('npm', ['install', '--offline', '--no-audit', '--no-fund', wsTarball(), mainTgz, hostTgz], app);
      const wsRange = (
        JSON.parse(readFileSync(join(app, 'node_modules', NAME, 'package.json'), 'utf8')) as {
          dependencies: Record<string, string>;
        }
      ).dependencies.ws;
      expect(wsRange).toBeDefined();
      expect(existsSync(join(app, 'node_modules', NAME, 'native', `${BINARY}.${HOST}.node`))).toBe(false);

      const r = ok(process.execPath, ['consumer.mjs', HOST_PKG], app);
      const out = JSON.parse(r.stdout) as ConsumerOutput;
      expect(isInside(fileURLToPath(out.resolved), join(app, 'node_modules', NAME)), out.resolved).toBe(true);
      expect(out.nativeAvailable).toBe(true);
      expect(isInside(out.binaryPackage ?? '', join(app, 'node_modules', HOST_PKG)), String(out.binaryPackage)).toBe(
        true,
      );
      expect(out.reads.map((x) => x.backend)).toEqual(['native', 'native']);
      checkBook(out);
      expect(r.stderr).toBe('');
      nativeBooks = out.reads.map((x) => x.book);

      expect(ok(process.execPath, ['consumer.cjs'], app).stdout).toBe('js');
      const help = ok('npm', ['exec', '--offline', '--', 'polybook', '--help'], app);
      expect(help.stdout).toMatch(/^polybook: live, verified Polymarket order books/);
    },
    STEP_TIMEOUT,
  );

  it(
    'runs without prom-client, OpenTelemetry or pino: text exposition and endpoint work, the bridges name what to install',
    () => {
      for (const dep of ['prom-client', '@opentelemetry/api', 'pino']) {
        expect(existsSync(join(app, 'node_modules', dep)), `${dep} must not be installed with polybook`).toBe(false);
      }
      const r = ok(process.execPath, ['optional.mjs'], app);
      const out = JSON.parse(r.stdout);
      expect(out.resolvable).toEqual({ 'prom-client': false, '@opentelemetry/api': false, pino: false });
      expect(out.text).toMatch(/^polybook_reads_total\{result="disabled"\} 1$/m);
      expect(out.metrics).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: out.text });
      expect(out.health).toMatchObject({ status: 503, body: { ok: false, reason: 'disabled' } });
      for (const [bridge, dependency] of [
        ['prometheus', 'prom-client'],
        ['openTelemetry', '@opentelemetry/api'],
      ] as const) {
        expect(out.bridges[bridge], bridge).toMatchObject({
          name: 'MissingDependencyError',
          code: 'POLYBOOK_MISSING_DEPENDENCY',
          dependency,
          typed: true,
        });
        expect(out.bridges[bridge].message).toContain(`run 'npm install ${dependency}'`);
      }
      expect(r.stderr).toBe('');
    },
    STEP_TIMEOUT,
  );

  it(
    'the type declarations serve a TypeScript consumer',
    () => {
      const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
      ok(
        process.execPath,
        [
          tsc,
          '--noEmit',
          '--strict',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--target',
          'es2022',
          '--skipLibCheck',
          // Node's own types come from the repository (a TypeScript user has @types/node too).
          '--typeRoots',
          join(ROOT, 'node_modules', '@types'),
          '--types',
          'node',
          'consumer.ts',
        ],
        app,
      );
    },
    STEP_TIMEOUT,
  );

  it(
    'without the binary package the pure-TypeScript backend runs, says so once, and reads the same',
    () => {
      // The project's own dependency goes first; polybook's optional dependency on it is what
      // `--omit=optional` (like a platform with no fitting binary) leaves out.
      ok('npm', ['uninstall', '--offline', '--no-audit', '--no-fund', HOST_PKG], app);
      ok('npm', ['install', '--omit=optional', '--offline', '--no-audit', '--no-fund'], app);
      expect(existsSync(join(app, 'node_modules', HOST_PKG))).toBe(false);
      expect(existsSync(join(app, 'node_modules', NAME, 'dist', 'index.js'))).toBe(true);

      const r = ok(process.execPath, ['consumer.mjs', HOST_PKG], app);
      const out = JSON.parse(r.stdout) as ConsumerOutput;
      expect(out.nativeAvailable).toBe(false);
      expect(out.binaryPackage).toBeNull();
      expect(out.reads.map((x) => x.backend)).toEqual(['js', 'js']);
      checkBook(out);
      expect(out.reads.map((x) => x.book)).toEqual(nativeBooks);
      // Exactly one line on stderr for two stores: the notice.
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^polybook: native backend unavailable on \S+ \(.+\); using the pure-TypeScript backend\. Set POLYBOOK_BACKEND=js to choose it explicitly and hide this notice\.$/,
      );

      // The README shows this very line (for linux-x64).
      const shown = /^polybook: native backend unavailable on .*$/m.exec(
        readFileSync(join(ROOT, 'README.md'), 'utf8'),
      )?.[0];
      expect(
        shown?.replace(' on linux-x64 ', ` on ${process.platform}-${process.arch} `),
        'the notice in README.md',
      ).toBe(lines[0]);

      const chosen = ok(process.execPath, ['consumer.mjs', HOST_PKG], app, userEnv({ POLYBOOK_BACKEND: 'js' }));
      expect(chosen.stderr, 'POLYBOOK_BACKEND=js prints nothing').toBe('');
      expect((JSON.parse(chosen.stdout) as ConsumerOutput).reads.map((x) => x.book)).toEqual(nativeBooks);

      const forced = run(process.execPath, ['consumer.mjs', HOST_PKG], app, userEnv({ POLYBOOK_BACKEND: 'native' }));
      expect(forced.status).not.toBe(0);
      expect(forced.stderr).toMatch(
        /POLYBOOK_BACKEND=native asks for the native backend, but its binary cannot load here/,
      );
    },
    STEP_TIMEOUT,
  );
});

/** What the native backend read, for the pure-TypeScript one to match. */
let nativeBooks: ConsumerOutput['reads'][number]['book'][] = [];

/** Both stores served the fixture's book: best levels are the last wire entries (worst first). */
function checkBook(out: ConsumerOutput): void {
  const bestBid = Number(fixture.bids.at(-1)!.price);
  const bestAsk = Number(fixture.asks.at(-1)!.price);
  for (const read of out.reads) {
    expect(read.rc).toBe(4); // Status.published: the book was applied
    expect(read.book).not.toBeNull();
    expect(read.book!.bestBid).toBe(bestBid);
    expect(read.book!.bestAsk).toBe(bestAsk);
    expect(read.book!.bids).toBe(Math.min(20, fixture.bids.length));
    expect(read.book!.asks).toBe(Math.min(20, fixture.asks.length));
    expect(read.book!.top).toEqual([
      { price: bestBid, size: Number(fixture.bids.at(-1)!.size) },
      { price: bestAsk, size: Number(fixture.asks.at(-1)!.size) },
    ]);
  }
}
