/**
 * Backend selection: the native writer when its binary loads, else the pure-TypeScript one.
 * `POLYBOOK_BACKEND=native|js` (or the `backend` option) forces one.
 *
 * Falling back on its own (no backend asked for, no binary loads) prints one line on stderr, once
 * per process; asking for `js` explicitly prints nothing, asking for `native` where it cannot load
 * is an error.
 */
import type { Writer } from '../table/writer.js';
import { JsWriter } from './ts/writer.js';
import { createNativeWriter, loadNativeBinding, type NativeBinding } from './native/index.js';
import { BACKEND_NAMES, readEnv } from '../config.js';
import { ConfigError, PolybookError } from '../errors.js';

/** A writer backend: `native` (Rust, N-API) or `js` (pure TypeScript). */
export type BackendName = (typeof BACKEND_NAMES)[number];
export const BACKENDS: readonly BackendName[] = BACKEND_NAMES;

let nativeLoad: ReturnType<typeof loadNativeBinding> | undefined;

/** Whether the native binding loads here (cached), and why not. */
export function nativeAvailability():
  | {
      /** The native backend can run here. */
      available: true;
    }
  | {
      /** The native backend cannot run here. */
      available: false;
      /** The loader's error (no binary for this platform, or it did not load). */
      error: Error;
    } {
  nativeLoad ??= loadNativeBinding();
  return 'binding' in nativeLoad ? { available: true } : { available: false, error: nativeLoad.error };
}

/** The native binding, or why it does not load (cached). @internal */
export function loadedNative(): { binding: NativeBinding } | { error: Error } {
  nativeLoad ??= loadNativeBinding();
  return nativeLoad;
}

/** The backend that `backend` (or the environment) asks for, checked. */
export function resolveBackend(backend?: BackendName): BackendName {
  if (backend !== undefined && !BACKENDS.includes(backend)) {
    throw new ConfigError('backend', backend, "'native' or 'js'");
  }
  const wanted = backend ?? readEnv('backend');
  const native = nativeAvailability();
  if (wanted === 'native' && !native.available) {
    const src = backend ? 'the backend option' : 'POLYBOOK_BACKEND=native';
    throw new PolybookError(
      'POLYBOOK_NATIVE_UNAVAILABLE',
      `polybook: ${src} asks for the native backend, but its binary cannot load here (${native.error.message}). ` +
        `Install the platform package (or build with 'npm run build:native'), or use the pure-TypeScript backend ('js').`,
      { cause: native.error },
    );
  }
  if (wanted !== undefined) return wanted;
  if (native.available) return 'native';
  noticeFallback(native.error);
  return 'js';
}

/** Process-wide (not per module instance), so two copies of polybook still print one line. */
const NOTICE_SHOWN = Symbol.for('polybook.fallbackNoticeShown');

/** The one-line fallback notice (exported for tests). */
export function fallbackNotice(error: Error): string {
  // The loader's message is a paragraph; its first sentence says what failed.
  const reason = (error.message.split(/\.(?:\s|$)|\n/)[0] ?? '').trim().slice(0, 160) || 'unknown error';
  return (
    `polybook: native backend unavailable on ${process.platform}-${process.arch} (${reason}); ` +
    `using the pure-TypeScript backend. Set POLYBOOK_BACKEND=js to choose it explicitly and hide this notice.`
  );
}

function noticeFallback(error: Error): void {
  const g = globalThis as { [NOTICE_SHOWN]?: boolean };
  if (g[NOTICE_SHOWN]) return;
  g[NOTICE_SHOWN] = true;
  process.stderr.write(`${fallbackNotice(error)}\n`);
}

/** Creates the writer of a table. */
export function createWriter(
  sab: ArrayBufferLike,
  opts: { backend?: BackendName; graceMs?: number },
): { writer: Writer; backend: BackendName } {
  const backend = resolveBackend(opts.backend);
  if (backend === 'native') {
    nativeLoad ??= loadNativeBinding();
    if (!('binding' in nativeLoad)) throw nativeLoad.error;
    return { writer: createNativeWriter(nativeLoad.binding, sab, { graceMs: opts.graceMs }), backend };
  }
  return { writer: new JsWriter(sab, { graceMs: opts.graceMs }), backend };
}
