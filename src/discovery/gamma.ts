/**
 * Gamma's keyset endpoints (`/markets/keyset`, `/events/keyset`; FIELDS.md "Pagination"): pages of
 * `{ "$schema", "markets" | "events", "next_cursor" }`; the cursor is sent back as `after_cursor`
 * (`cursor=` is ignored) and is absent on the last page. List filters repeat their key
 * (`slug=a&slug=b`).
 */
import { HttpError } from '../errors.js';
import type { HttpClient } from '../rest/http.js';

/** Query values: lists repeat the key; undefined is left out. */
export type GammaQuery = Record<string, string | number | boolean | readonly string[] | undefined>;

/** Markets per keyset page (Gamma's maximum since 2026-05-14). */
export const GAMMA_PAGE_LIMIT = 100;
/** Ids per `condition_ids` / `clob_token_ids` / `slug` filter (documented for `condition_ids`). */
export const GAMMA_MAX_IDS = 100;

type Obj = Record<string, unknown>;

export class GammaApi {
  constructor(
    private readonly client: HttpClient,
    readonly baseUrl: string,
    private readonly purpose: string,
    private readonly signal?: AbortSignal,
  ) {}

  private url(path: string, query: GammaQuery): URL {
    const u = new URL(`${this.baseUrl}${path}`);
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, String(x));
      else u.searchParams.set(k, String(v));
    }
    return u;
  }

  /**
   * The pages of `/markets/keyset` or `/events/keyset` for `query`, at most `maxPages`. A 429 or
   * 5xx on a page is retried by the HTTP client with the same cursor, so one bad answer does not
   * end the listing.
   * @throws NetworkError, HttpError (also for an answer without the expected array).
   */
  async *pages(kind: 'markets' | 'events', query: GammaQuery, maxPages: number): AsyncGenerator<Obj[]> {
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const url = this.url(`/${kind}/keyset`, {
        limit: GAMMA_PAGE_LIMIT,
        ...query,
        ...(cursor === undefined ? {} : { after_cursor: cursor }),
      });
      const { status, body } = await this.client.json(url, {
        purpose: this.purpose,
        api: 'gamma',
        signal: this.signal,
      });
      const list = (body as Obj | null)?.[kind];
      if (!Array.isArray(list)) {
        this.client.purpose(this.purpose).errors++;
        throw new HttpError(
          `GET ${url.href}`,
          status,
          JSON.stringify(body).slice(0, 200),
          1,
          `the answer has no "${kind}" array:`,
        );
      }
      yield list.filter((x): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x));
      const next = (body as Obj).next_cursor;
      if (typeof next !== 'string' || next === '' || next === cursor || list.length === 0) return;
      cursor = next;
    }
  }

  /** Every item of the listing (at most `maxPages` pages). */
  async all(kind: 'markets' | 'events', query: GammaQuery, maxPages: number): Promise<Obj[]> {
    const out: Obj[] = [];
    for await (const page of this.pages(kind, query, maxPages)) out.push(...page);
    return out;
  }
}
