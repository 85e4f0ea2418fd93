/**
 * Text control frames of the market channel (docs/DESIGN.md section 5 step 2): the frame,
 * trimmed of ASCII whitespace (space, tab, LF, FF, CR), is exactly one of these.
 */
export const CONTROL_FRAMES = ['PONG', 'PING', 'NO NEW ASSETS', 'INVALID OPERATION', 'INVALID MESSAGE', '[]'] as const;

const MAX_LEN = 17; // 'INVALID OPERATION'
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
