/**
 * Text frames of the market channel that are not events (docs/PROTOCOL.md 1.4 and 1.6), defined
 * once for the feed, both writers (native/core/src/layout.rs is generated from this list) and the
 * simulator.
 */

/** The keepalive: the client sends `PING`, the server answers `PONG` behind the data it queued before. */
export const PING = 'PING';
export const PONG = 'PONG';

/** The server's text replies to subscription frames it could not use (counted as control replies by the feed). */
export const NO_NEW_ASSETS = 'NO NEW ASSETS';
export const INVALID_OPERATION = 'INVALID OPERATION';
export const INVALID_MESSAGE = 'INVALID MESSAGE';
export const CONTROL_REPLIES = [NO_NEW_ASSETS, INVALID_OPERATION, INVALID_MESSAGE] as const;

/**
 * Frames a writer counts as control frames and skips (docs/DESIGN.md section 5 step 2): the frame,
 * trimmed of ASCII whitespace (space, tab, LF, FF, CR), is exactly one of these. `[]` is the
 * opening snapshot of a subscription without active tokens.
 */
export const CONTROL_FRAMES = [PONG, PING, ...CONTROL_REPLIES, '[]'] as const;

const MAX_LEN = Math.max(...CONTROL_FRAMES.map((f) => f.length));
const CONTROL_BYTES = CONTROL_FRAMES.map((s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0)));

function isAsciiWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}

/** First characters of the control frames: P, N, I, [. */
function mayStartControl(c: number): boolean {
  return c === 80 || c === 78 || c === 73 || c === 91;
}

export function isControlText(s: string): boolean {
  let a = 0;
  let b = s.length;
  while (a < b && isAsciiWs(s.charCodeAt(a))) a++;
  while (b > a && isAsciiWs(s.charCodeAt(b - 1))) b--;
  const len = b - a;
  if (len < 2 || len > MAX_LEN || !mayStartControl(s.charCodeAt(a))) return false;
  const t = a === 0 && b === s.length ? s : s.slice(a, b);
  for (let i = 0; i < CONTROL_FRAMES.length; i++) if (t === CONTROL_FRAMES[i]) return true;
  return false;
}

export function isControlBytes(u: Uint8Array): boolean {
  let a = 0;
  let b = u.length;
  while (a < b && isAsciiWs(u[a])) a++;
  while (b > a && isAsciiWs(u[b - 1])) b--;
  const len = b - a;
  if (len < 2 || len > MAX_LEN || !mayStartControl(u[a])) return false;
  outer: for (let k = 0; k < CONTROL_BYTES.length; k++) {
    const c = CONTROL_BYTES[k];
    if (c.length !== len) continue;
    for (let i = 0; i < len; i++) if (u[a + i] !== c[i]) continue outer;
    return true;
  }
  return false;
}
