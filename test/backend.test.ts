import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  vi.doUnmock('../src/native.js');
});

describe('backend selection', () => {
  it('POLYBOOK_BACKEND forces a backend; the option wins over the environment', async () => {
    const { BookStore } = await import('../src/store.js');
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
    const { BookStore } = await import('../src/store.js');
    expect(new BookStore({ clock: 'precise' }).backend).toBe('native');
  });

  it('falls back to pure TS when the binary cannot load, and forcing native there is a clear error', async () => {
    vi.doMock('../src/native.js', () => ({
      loadNativeBinding: () => ({ error: new Error('Cannot find module polybook.linux-x64-gnu.node') }),
      NativeWriterAdapter: class {},
    }));
    vi.stubEnv('POLYBOOK_BACKEND', '');
    const { BookStore } = await import('../src/store.js');
    const { nativeAvailability } = await import('../src/backend.js');
    expect(nativeAvailability().available).toBe(false);
    expect(new BookStore({ clock: 'precise' }).backend).toBe('js');
    vi.stubEnv('POLYBOOK_BACKEND', 'native');
    expect(() => new BookStore({ clock: 'precise' })).toThrow(
      /POLYBOOK_BACKEND=native asks for the native backend, but its binary cannot load here \(Cannot find module/,
    );
    expect(() => new BookStore({ clock: 'precise', backend: 'native' })).toThrow(/backend option asks for the native backend/);
  });
});
