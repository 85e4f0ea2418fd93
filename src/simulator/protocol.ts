/** Parsing of the frames a client sends on the market channel (docs/PROTOCOL.md 1.2-1.4). */

export type ClientFrame =
  | { kind: 'ping' }
  /** First frame: `{"assets_ids":[...],"type":"market","initial_dump"?,"custom_feature_enabled"?}`. */
  | { kind: 'initial'; assets: string[]; initialDump: boolean; custom: boolean }
  | { kind: 'subscribe'; assets: string[]; initialDump: boolean; custom: boolean }
  | { kind: 'unsubscribe'; assets: string[] }
  /** A JSON object with an unusable `type`/`operation` value. */
  | { kind: 'invalid-operation' }
  /** Not JSON, or not a usable subscription object. */
  | { kind: 'invalid' };

/** Text replies the server sends (docs/PROTOCOL.md 1.6), defined once in src/protocol/control.ts. */
export { PONG, NO_NEW_ASSETS, INVALID_OPERATION, INVALID_MESSAGE } from '../protocol/control.js';
import { PING } from '../protocol/control.js';

export function parseClientFrame(text: string): ClientFrame {
  if (text === PING || text.trim() === PING) return { kind: 'ping' };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: 'invalid' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { kind: 'invalid' };
  const o = v as Record<string, unknown>;
  const ids = o.assets_ids ?? [];
  if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) return { kind: 'invalid' };
  const assets = ids as string[];
  const custom = o.custom_feature_enabled === true;
  const initialDump = o.initial_dump !== false;
  if ('type' in o) {
    if (typeof o.type === 'string' && o.type.toLowerCase() === 'market')
      return { kind: 'initial', assets, initialDump, custom };
    return { kind: 'invalid-operation' };
  }
  if ('operation' in o) {
    const op = typeof o.operation === 'string' ? o.operation.toLowerCase() : '';
    if (op === 'subscribe') return { kind: 'subscribe', assets, initialDump, custom };
    if (op === 'unsubscribe') return { kind: 'unsubscribe', assets };
    return { kind: 'invalid-operation' };
  }
  return { kind: 'invalid' };
}
