/**
 * The CLOB's market endpoints, discovery's fallback when Gamma is down (docs/PROTOCOL.md 3.4):
 * `GET /markets/{condition_id}`, `GET /markets?next_cursor=` (every market ever, oldest first:
 * cursor `MA==` to `LTE=`), and `GET /book?token_id=` to find the market of a token.
 */
import { HttpError } from '../errors.js';
import type { HttpClient } from '../rest/http.js';

export const CLOB_FIRST_CURSOR = 'MA==';
export const CLOB_END_CURSOR = 'LTE=';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export class ClobApi {
  constructor(
    private readonly client: HttpClient,
    readonly baseUrl: string,
    private readonly purpose: string,
    private readonly signal?: AbortSignal,
  ) {}

  private get(path: string, accept?: number[]): Promise<{ status: number; body: unknown }> {
    return this.client.json(`${this.baseUrl}${path}`, {
      purpose: this.purpose,
      api: 'clob',
      signal: this.signal,
      accept,
    });
  }

  /** `GET /markets/{conditionId}`; null when the CLOB does not know it (404, or a new market not minted yet). */
  async market(conditionId: string): Promise<Obj | null> {
    const { status, body } = await this.get(`/markets/${encodeURIComponent(conditionId)}`, [400, 404]);
    if (status !== 200 || !isObj(body) || typeof body.condition_id !== 'string' || body.condition_id === '')
      return null;
    return body;
  }

  /** The condition id of a token's market, from its book; null when there is no book (unknown, settled or new). */
  async marketOfToken(tokenId: string): Promise<string | null> {
    const { status, body } = await this.get(`/book?token_id=${encodeURIComponent(tokenId)}`, [400, 404]);
    return status === 200 && isObj(body) && typeof body.market === 'string' && body.market !== '' ? body.market : null;
  }

  /** The pages of `GET /markets`, at most `maxPages`. */
  async *pages(maxPages: number): AsyncGenerator<Obj[]> {
    let cursor = CLOB_FIRST_CURSOR;
    for (let page = 0; page < maxPages && cursor !== CLOB_END_CURSOR; page++) {
      const path = `/markets?next_cursor=${encodeURIComponent(cursor)}`;
      const { status, body } = await this.get(path);
      if (!isObj(body) || !Array.isArray(body.data)) {
        this.client.purpose(this.purpose).errors++;
        throw new HttpError(
          `GET ${this.baseUrl}${path}`,
          status,
          JSON.stringify(body).slice(0, 200),
          1,
          'the answer has no "data" array:',
        );
      }
      yield body.data.filter(isObj);
      const next = body.next_cursor;
      if (typeof next !== 'string' || next === '' || next === cursor) return;
      cursor = next;
    }
  }
}
