import { afterEach, describe, expect, it, vi } from 'vitest';

const NOTICE_SHOWN = Symbol.for('polybook.fallbackNoticeShown');

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  vi.doUnmock('../src/backend/native/index.js');
  vi.restoreAllMocks();
  delete (globalThis as Record<symbol, unknown>)[NOTICE_SHOWN];
});

/** Makes the native binding fail to load, as it does where no platform package is installed. */
function mockNativeMissing(): void {
  vi.doMock('../src/backend/native/index.js', () => ({
    loadNativeBinding: () => ({
      error: new Error(
        'Cannot find native binding. npm has a bug related to optional dependencies (https://github.com/npm/cli/issues/4828). ' +
          'Please try `npm i` again after removing both package-lock.json and node_modules directory.',
      ),
    }),
    NativeWriterAdapter: class {},
  }));
}

/** Captures what polybook writes to stderr. */
function captureStderr(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

describe('backend selection', () => {
  it('POLYBOOK_BACKEND forces a backend; the option wins over the environment', async () => {
    const { BookStore } = await import('../src/table/store.js');
    vi.stubEnv('POLYBOOK_BACKEND', 'js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    vi.stubEnv('POLYBOOK_BACKEND', 'native');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('native');
    expect(new BookStore({ clock: 'precise', backend: 'js' }).backend).toBe('js');
    vi.stubEnv('POLYBOOK_BACKEND', 'fast');
    expect(() => new BookStore({ clock: 'precise' })).toThrow(/POLYBOOK_BACKEND="fast": expected one of native, js/);
  });

  it('prefers native when it loads', async () => {
    vi.stubEnv('POLYBOOK_BACKEND', '');
    const { BookStore } = await import('../src/table/store.js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('native');
  });

  it('falls back to pure TS when the binary cannot load, and forcing native there is a clear error', async () => {
    vi.doMock('../src/backend/native/index.js', () => ({
      loadNativeBinding: () => ({ error: new Error('Cannot find module polybook.linux-x64-gnu.node') }),
      NativeWriterAdapter: class {},
    }));
    vi.stubEnv('POLYBOOK_BACKEND', '');
    const stderr = captureStderr();
    const { BookStore } = await import('../src/table/store.js');
    const { nativeAvailability } = await import('../src/backend/index.js');
    expect(nativeAvailability().available).toBe(false);
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    expect(stderr).toHaveLength(1);
    vi.stubEnv('POLYBOOK_BACKEND', 'native');
    expect(() => new BookStore({ clock: 'precise' })).toThrow(
      /POLYBOOK_BACKEND=native asks for the native backend, but its binary cannot load here \(Cannot find module/,
    );
    expect(() => new BookStore({ clock: 'precise', backend: 'native' })).toThrow(
      /backend option asks for the native backend/,
    );
    expect(() => new BookStore({ clock: 'precise', backend: 'native' })).toThrow(
      expect.objectContaining({ code: 'POLYBOOK_NATIVE_UNAVAILABLE', cause: expect.any(Error) }),
    );
  });

  it('falling back on its own prints one line on stderr, once per process, not per store', async () => {
    mockNativeMissing();
    vi.stubEnv('POLYBOOK_BACKEND', '');
    const stderr = captureStderr();
    const { BookStore } = await import('../src/table/store.js');
    const { nativeAvailability } = await import('../src/backend/index.js');
    expect(nativeAvailability().available).toBe(false);
    expect(stderr).toEqual([]); // asking is not choosing
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    expect(stderr).toEqual([
      `polybook: native backend unavailable on ${process.platform}-${process.arch} (Cannot find native binding); ` +
        'using the pure-TypeScript backend. Set POLYBOOK_BACKEND=js to choose it explicitly and hide this notice.\n',
    ]);
    // A second copy of the module (e.g. two installs of polybook) does not repeat it.
    vi.resetModules();
    const again = await import('../src/table/store.js');
    expect(new again.BookStore({ clock: 'precise' }).backend).toBe('js');
    expect(stderr).toHaveLength(1);
  });

  it('choosing js explicitly prints nothing; forcing native where it cannot load throws without the notice', async () => {
    mockNativeMissing();
    const stderr = captureStderr();
    const { BookStore } = await import('../src/table/store.js');
    vi.stubEnv('POLYBOOK_BACKEND', 'js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    vi.stubEnv('POLYBOOK_BACKEND', '');
    expect(new BookStore({ clock: 'precise', backend: 'js' }).backend).toBe('js');
    vi.stubEnv('POLYBOOK_BACKEND', 'native');
    expect(() => new BookStore({ clock: 'precise' })).toThrow(/POLYBOOK_BACKEND=native asks for the native backend/);
    expect(stderr).toEqual([]);
  });

  it('the notice is one line whatever the load error says', async () => {
    const { fallbackNotice } = await import('../src/backend/index.js');
    const multi = new Error('libpolybook.so: cannot open shared object file\nRequire stack:\n- /x/binding.cjs');
    const line = fallbackNotice(multi);
    expect(line).not.toMatch(/\n/);
    expect(line).toContain('(libpolybook.so: cannot open shared object file)');
    expect(fallbackNotice(new Error(''))).toContain('(unknown error)');
    expect(fallbackNotice(new Error('x'.repeat(1000))).length).toBeLessThan(400);
  });

  it('a loaded native backend prints nothing', async () => {
    vi.stubEnv('POLYBOOK_BACKEND', '');
    const stderr = captureStderr();
    const { BookStore } = await import('../src/table/store.js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('native');
    expect(stderr).toEqual([]);
  });
});
