/**
 * REST base URLs. They follow the market-channel URL: Polymarket's feed goes with Polymarket's
 * Gamma and CLOB; any other feed (the simulator, a relay) serves REST on its own origin
 * (`ws://h:p/...` -> `http://h:p`). Options and `POLYBOOK_GAMMA_URL` / `POLYBOOK_CLOB_URL` override.
 */

/** Polymarket's Gamma API (markets, events). */
export const DEFAULT_GAMMA_URL = 'https://gamma-api.polymarket.com';
/** Polymarket's CLOB REST API (books, markets). */
export const DEFAULT_CLOB_URL = 'https://clob.polymarket.com';

/** Whether a market-channel URL is Polymarket's own (live mode), not a simulator or a relay. */
export function isPolymarketFeed(feedUrl: string): boolean {
  try {
    const host = new URL(feedUrl).hostname;
    return host === 'polymarket.com' || host.endsWith('.polymarket.com');
  } catch {
    return false;
  }
}

/**
 * The Gamma and CLOB base URLs that go with a market-channel URL: Polymarket's for Polymarket's
 * feed (or none given), else the feed's own origin over http(s).
 */
export function restUrlsFor(feedUrl: string | undefined): {
  /** Gamma API base URL, without a trailing slash. */
  gammaUrl: string;
  /** CLOB REST base URL, without a trailing slash. */
  clobUrl: string;
} {
  if (feedUrl === undefined) return { gammaUrl: DEFAULT_GAMMA_URL, clobUrl: DEFAULT_CLOB_URL };
  let u: URL;
  try {
    u = new URL(feedUrl);
  } catch {
    return { gammaUrl: DEFAULT_GAMMA_URL, clobUrl: DEFAULT_CLOB_URL };
  }
  if (isPolymarketFeed(feedUrl)) return { gammaUrl: DEFAULT_GAMMA_URL, clobUrl: DEFAULT_CLOB_URL };
  const origin = `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
  return { gammaUrl: origin, clobUrl: origin };
}
