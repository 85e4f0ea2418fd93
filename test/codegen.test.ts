/**
 * The Rust files generated from the TypeScript definitions (scripts/codegen.ts) are current: the
 * layout, control frames and status bits of native/core/src/layout.rs, and the N-API method of
 * every writer command in native/src/commands.rs. When this fails, run `npm run codegen`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { render } from '../scripts/codegen.js';
import { COMMAND_NAMES } from '../src/table/writer.js';
import { loadNativeBinding } from '../src/backend/native/index.js';

const ROOT = new URL('../', import.meta.url);

describe('generated Rust', () => {
  for (const [path, text] of Object.entries(render())) {
    it(`${path} is current (else: npm run codegen)`, () => {
      expect(readFileSync(new URL(path, ROOT), 'utf8')).toBe(text);
    });
  }

  it('the loaded binding has a method for every writer command', () => {
    const loaded = loadNativeBinding();
    if ('error' in loaded) throw new Error(`native binding must load (npm run build:native): ${loaded.error.message}`);
    const proto = loaded.binding.NativeWriter.prototype as unknown as Record<string, unknown>;
    for (const op of COMMAND_NAMES) expect(typeof proto[op], op).toBe('function');
    expect(typeof proto.ingestString).toBe('function');
  });
});
