/**
 * Backend selection: the native writer when its binary loads, else the pure-TypeScript one.
 * `POLYBOOK_BACKEND=native|js` (or the `backend` option) forces one.
 */
import type { Writer } from './writer.js';
import { JsWriter } from './js/writer.js';
import { loadNativeBinding, NativeWriterAdapter } from './native.js';
import { ConfigError, optionalEnumEnv } from './config.js';

export type BackendName = 'native' | 'js';
export const BACKENDS: readonly BackendName[] = ['native', 'js'];

let nativeLoad: ReturnType<typeof loadNativeBinding> | undefined;

/** Whether the native binding loads here (cached), and why not. */
export function nativeAvailability(): { available: true } | { available: false; error: Error } {
  nativeLoad ??= loadNativeBinding();
  return 'binding' in nativeLoad ? { available: true } : { available: false, error: nativeLoad.error };
}

/** The backend that `backend` (or the environment) asks for, checked. */
export function resolveBackend(backend?: BackendName): BackendName {
  if (backend !== undefined && !BACKENDS.includes(backend)) {
    throw new ConfigError('backend', backend, "'native' or 'js'");
  }
  const wanted = backend ?? optionalEnumEnv('POLYBOOK_BACKEND', BACKENDS);
  const native = nativeAvailability();
  if (wanted === 'native' && !native.available) {
    const src = backend ? "the backend option" : 'POLYBOOK_BACKEND=native';
    throw new Error(
      `polybook: ${src} asks for the native backend, but its binary cannot load here (${native.error.message}). ` +
        `Install the platform package (or build with 'npm run build:native'), or use the pure-TypeScript backend ('js').`,
    );
  }
  return wanted ?? (native.available ? 'native' : 'js');
}

/** Creates the writer of a table. */
export function createWriter(
  sab: SharedArrayBuffer,
  opts: { backend?: BackendName; graceMs?: number },
): { writer: Writer; backend: BackendName } {
  const backend = resolveBackend(opts.backend);
  if (backend === 'native') {
    nativeLoad ??= loadNativeBinding();
    if (!('binding' in nativeLoad)) throw nativeLoad.error;
    return { writer: new NativeWriterAdapter(nativeLoad.binding, sab, { graceMs: opts.graceMs }), backend };
  }
  return { writer: new JsWriter(sab, { graceMs: opts.graceMs }), backend };
}
