/**
 * The token directory of a server's table (docs/SERVER.md): per slot, the token id bound there and
 * the slot generation of that binding, so that readers in other processes find a token's slot in
 * memory, without asking the server. The server writes an entry under the entry's own seqlock
 * whenever its store binds or unbinds a slot, then bumps the header's directory epoch; a reader
 * looks again at the entries whose version moved once it sees the epoch move.
 *
 * A reader resolves a token to (slot, generation) here and reads the slot as any reader does: the
 * slot's own generation (`gen`, bumped by the writer's bind) tells whether the binding it
 * resolved is the one the slot holds. An entry written before the writer applied its bind (the
 * writer may be in a worker) reads as `not_subscribed` until then.
 */
import {
  D_GEN,
  D_LEN,
  D_SEQ,
  D_TEXT,
  DIR_ENTRY_BYTES,
  DIR_TOKEN_BYTES,
  H_DIRECTORY_EPOCH,
  HEADER_BYTES,
} from '../table/layout.js';
import type { BindingDirectory } from '../table/book-table.js';

/** Whether the seqlock re-check needs a read-modify-write to order the earlier loads (as in src/table/view.ts). */
const TSO = process.arch === 'x64' || process.arch === 'ia32';

/** Token ids a directory holds: printable ASCII without spaces, up to DIR_TOKEN_BYTES. */
const TOKEN_RE = new RegExp(`^[\\x21-\\x7e]{1,${DIR_TOKEN_BYTES}}$`);

/**
 * The same string, internalized (V8 keeps one copy of each property-key string). A reader's token
 * map is keyed by the directory's strings; a lookup with an internalized key (a literal, a key
 * read from JSON) then compares pointers instead of 78 characters, as a store of the process
 * does with the very string it subscribed.
 */
function intern(s: string): string {
  const o: Record<string, true> = { [s]: true };
  for (const k in o) return k;
  return s;
}

/** The directory of a mapped table (`offset`: its first entry, from `serverRegion`). */
export class TokenDirectory implements BindingDirectory {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly header: Int32Array;
  private dirty = false;

  constructor(
    memory: ArrayBufferLike,
    offset: number,
    readonly capacity: number,
  ) {
    this.i32 = new Int32Array(memory, offset, (capacity * DIR_ENTRY_BYTES) / 4);
    this.u8 = new Uint8Array(memory, offset, capacity * DIR_ENTRY_BYTES);
    this.header = new Int32Array(memory, 0, HEADER_BYTES / 4);
  }

  /** Whether a token id can be listed (and so served to other processes). */
  static fits(tokenId: string): boolean {
    return TOKEN_RE.test(tokenId);
  }

  refuse(tokenId: string): string | null {
    return TokenDirectory.fits(tokenId)
      ? null
      : `polybook: a book server lists token ids of 1 to ${DIR_TOKEN_BYTES} printable ASCII characters, got ${JSON.stringify(tokenId.slice(0, 200))}`;
  }

  bind(slot: number, tokenId: string, gen: number): void {
    this.write(slot, tokenId, gen);
  }

  unbind(slot: number, gen: number): void {
    this.write(slot, '', gen);
  }

  commit(): void {
    if (!this.dirty) return;
    this.dirty = false;
    Atomics.add(this.header, H_DIRECTORY_EPOCH / 4, 1);
  }

  /** The directory epoch (+1 after every batch of changes). */
  epoch(): number {
    return Atomics.load(this.header, H_DIRECTORY_EPOCH / 4);
  }

  /** An entry's version (odd while it is being rewritten). */
  version(slot: number): number {
    return Atomics.load(this.i32, (slot * DIR_ENTRY_BYTES + D_SEQ) / 4);
  }

  /**
   * The entry of a slot at version `v` (from {@link version}, even): the token and generation, or
   * null when the slot holds no token; undefined when the entry changed meanwhile (read it again).
   */
  read(slot: number, v: number): { tokenId: string; gen: number } | null | undefined {
    const w = (slot * DIR_ENTRY_BYTES) / 4;
    const gen = this.i32[w + D_GEN / 4];
    let len = this.i32[w + D_LEN / 4];
    len = len < 0 ? 0 : len > DIR_TOKEN_BYTES ? DIR_TOKEN_BYTES : len;
    let tokenId = '';
    if (len > 0) {
      const at = slot * DIR_ENTRY_BYTES + D_TEXT;
      tokenId = String.fromCharCode.apply(null, this.u8.subarray(at, at + len) as unknown as number[]);
    }
    const again = TSO ? Atomics.load(this.i32, w + D_SEQ / 4) : Atomics.or(this.i32, w + D_SEQ / 4, 0);
    if (again !== v) return undefined;
    return len === 0 ? null : { tokenId: intern(tokenId), gen };
  }

  private write(slot: number, tokenId: string, gen: number): void {
    const w = (slot * DIR_ENTRY_BYTES) / 4;
    const seq = this.i32[w + D_SEQ / 4];
    Atomics.store(this.i32, w + D_SEQ / 4, (seq + 1) | 0);
    this.i32[w + D_GEN / 4] = gen;
    const at = slot * DIR_ENTRY_BYTES + D_TEXT;
    for (let i = 0; i < tokenId.length; i++) this.u8[at + i] = tokenId.charCodeAt(i);
    Atomics.store(this.i32, w + D_LEN / 4, tokenId.length);
    Atomics.store(this.i32, w + D_SEQ / 4, (seq + 2) | 0);
    this.dirty = true;
  }
}
