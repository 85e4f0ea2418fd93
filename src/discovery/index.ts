/** Market discovery: Gamma keyset listings and lookups, the CLOB as fallback, one normalised market shape. */
export {
  discover,
  checkQuery,
  MAX_TOP,
  RANK_BY,
  type DiscoverOptions,
  type DiscoveryResult,
  type MarketQuery,
  type RankBy,
} from './queries.js';
export {
  fromClob,
  fromGamma,
  fromGammaEvent,
  isTradeable,
  notTradeable,
  jsonList,
  decimalText,
  type DiscoveredMarket,
  type Outcome,
} from './normalize.js';
export { checkBooks, type BookCheck } from './hydration.js';
export { GammaApi, GAMMA_PAGE_LIMIT, GAMMA_MAX_IDS, type GammaQuery } from './gamma.js';
export { ClobApi, CLOB_FIRST_CURSOR, CLOB_END_CURSOR } from './clob.js';
