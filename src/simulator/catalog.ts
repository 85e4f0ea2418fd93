/**
 * What Gamma and the CLOB say about the simulated markets: questions, slugs, events, outcome labels
 * (Yes/No, Up/Down, team names), volumes, liquidity, dates and tags, all from the seed. Neg-risk
 * markets are grouped into multi-market events; events also carry what real ones do beside their
 * live markets: closed members (resolved long ago: Gamma and the CLOB market list know them, no
 * book exists) and inactive placeholders (Gamma only, no token ids), so clients must filter.
 */
import { createHash } from 'node:crypto';
import type { Market } from './market.js';
import { Rng } from './random.js';

export interface TagInfo {
  id: string;
  label: string;
  slug: string;
}

/** One market as Gamma lists it. */
export interface CatalogMarket {
  /** `live`: an exchange market; `closed`: resolved long ago; `placeholder`: not minted (no condition or token ids). */
  kind: 'live' | 'closed' | 'placeholder';
  /** Gamma's numeric id (a live market's equals its `market_resolved` id). */
  gammaId: string;
  /** The exchange market of a live one. */
  market: Market | null;
  conditionId: string;
  /** Token ids (null for a placeholder). */
  tokens: [string, string] | null;
  labels: [string, string];
  question: string;
  slug: string;
  description: string;
  groupItemTitle: string;
  questionId: string;
  /** 24-hour volume; 0 is omitted by Gamma. */
  volume24h: number;
  volume: number;
  liquidity: number;
  tickSize: string;
  negRisk: boolean;
  startDate: number;
  createdAt: number;
  endDate: number;
  /** For a closed market: the index of the winning outcome. */
  winner: 0 | 1;
  event: CatalogEvent;
}

export interface CatalogEvent {
  gammaId: string;
  slug: string;
  title: string;
  description: string;
  negRisk: boolean;
  negRiskMarketId: string;
  tags: TagInfo[];
  members: CatalogMarket[];
  startDate: number;
  createdAt: number;
  endDate: number;
}

/** The label pair and question of a market before its exchange object exists. */
interface Draft {
  labels: [string, string];
  question: string;
  slug: string;
  groupItemTitle: string;
  endDate: number;
}

const TAGS: Record<string, TagInfo> = {
  politics: { id: '2', label: 'Politics', slug: 'politics' },
  crypto: { id: '21', label: 'Crypto', slug: 'crypto' },
  sports: { id: '1', label: 'Sports', slug: 'sports' },
  elections: { id: '144', label: 'Elections', slug: 'elections' },
  economy: { id: '100328', label: 'Economy', slug: 'economy' },
  culture: { id: '596', label: 'Culture', slug: 'pop-culture' },
  esports: { id: '64', label: 'Esports', slug: 'esports' },
};

const COINS = [
  { name: 'Bitcoin', code: 'btc', price: 90_000 },
  { name: 'Ethereum', code: 'eth', price: 3000 },
  { name: 'Solana', code: 'sol', price: 150 },
  { name: 'XRP', code: 'xrp', price: 2 },
];
const NAMES = [
  'Avery Lang',
  'Morgan Reyes',
  'Jordan Pike',
  'Casey Holt',
  'Riley Okafor',
  'Quinn Navarro',
  'Harper Sato',
  'Rowan Ellis',
  'Sasha Brandt',
  'Devon Marsh',
  'Emerson Vale',
  'Kai Moreno',
];
const PLACES = ['Ohio', 'Arizona', 'Georgia', 'Nevada', 'Michigan', 'Oregon', 'Maine', 'Kansas', 'Utah', 'Iowa'];
const TEAMS = ['Falcons', 'Comets', 'Vipers', 'Titans', 'Ravens', 'Orbit', 'Nomads', 'Ember', 'Glacier', 'Sparks'];
const FILMS = ['Salt and Iron', 'The Quiet Harbor', 'Northern Lights', 'Paper Moons', 'Glass Rivers', 'Last Orchard'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAY = 86_400_000;

/** A seeded Fisher-Yates shuffle (a copy). */
function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const slugify = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** `2026-07-31T12:00:00Z`: Gamma's `endDate` form (no fraction). */
export const isoSeconds = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** `2025-05-02T15:04:43.762151Z`: Gamma's `createdAt` form (microseconds). */
export const isoMicros = (t: number): string =>
  new Date(t).toISOString().replace('Z', `${String(t % 997).padStart(3, '0')}Z`);

function usd(n: number): string {
  return n >= 1000 ? `$${Math.round(n).toLocaleString('en-US')}` : `$${n}`;
}

/** The whole catalog: events in order, each with its members. */
export class Catalog {
  readonly events: CatalogEvent[] = [];
  /** Every market Gamma lists, event by event. */
  readonly markets: CatalogMarket[] = [];
  private readonly byMarket = new Map<Market, CatalogMarket>();
  private readonly byCondition = new Map<string, CatalogMarket>();

  /** Live markets' catalog entries. */
  entry(m: Market): CatalogMarket {
    return this.byMarket.get(m)!;
  }

  /** Live or closed market by condition id. */
  byConditionId(cid: string): CatalogMarket | undefined {
    return this.byCondition.get(cid);
  }

  /** @internal */
  add(e: CatalogEvent): void {
    this.events.push(e);
    for (const m of e.members) {
      this.markets.push(m);
      if (m.market) this.byMarket.set(m.market, m);
      if (m.conditionId !== '') this.byCondition.set(m.conditionId, m);
    }
  }
}

/**
 * Plans the catalog of `n` markets whose neg-risk flags are known: each market's labels and
 * question (needed to create its tokens), then, once the exchange markets exist, {@link bind}
 * builds the events around them.
 */
export function planCatalog(seed: number | string, negRisk: readonly boolean[], baseTs: number) {
  const rng = new Rng(seed, 'catalog');
  const drafts: Draft[] = [];
  /** Index groups: one event each. */
  const groups: {
    indices: number[];
    title: string;
    description: string;
    tags: TagInfo[];
    endDate: number;
    /** Who a closed member of a multi-market event is about. */
    other?: string;
  }[] = [];
  let i = 0;
  let upDown = 0;
  while (i < negRisk.length) {
    if (negRisk[i]) {
      // A multi-market neg-risk event: the following neg-risk markets, 2 to 4 of them.
      const indices = [i];
      while (indices.length < 2 + rng.int(3) && i + indices.length < negRisk.length && negRisk[i + indices.length])
        indices.push(i + indices.length);
      const year = new Date(baseTs).getUTCFullYear() + 1 + rng.int(2);
      const endDate = Date.UTC(year, 10, 3 + rng.int(5), 12);
      const kind = rng.int(3);
      const place = rng.pick(PLACES);
      const title =
        kind === 0
          ? `${place} Governor Election ${year}`
          : kind === 1
            ? `Best Picture Winner ${year}`
            : `Fed decision in ${MONTHS[rng.int(12)]} ${year}?`;
      const names = shuffled(rng, NAMES);
      const films = shuffled(rng, FILMS);
      const fed = ['50+ bps decrease', '25 bps decrease', 'No change', '25+ bps increase'];
      indices.forEach((idx, k) => {
        const who = kind === 0 ? names[k]! : kind === 1 ? films[k % films.length]! : fed[k % fed.length]!;
        const question =
          kind === 0
            ? `Will ${who} win the ${place} governor election in ${year}?`
            : kind === 1
              ? `Will "${who}" win Best Picture in ${year}?`
              : `${who} after the Fed's ${title.replace(/^Fed decision in | \d{4}\?$/g, '')} meeting?`;
        drafts[idx] = {
          labels: ['Yes', 'No'],
          question,
          slug: `${slugify(question)}-${100 + rng.int(900)}`,
          groupItemTitle: who,
          endDate,
        };
      });
      groups.push({
        indices,
        title,
        description: `This is a market group on "${title}". Each market resolves independently; exactly one resolves to "Yes".`,
        tags: kind === 2 ? [TAGS.economy!] : kind === 1 ? [TAGS.culture!] : [TAGS.politics!, TAGS.elections!],
        endDate,
        other: kind === 0 ? names[indices.length] : kind === 1 ? films[indices.length % films.length] : 'Emergency cut',
      });
      i += indices.length;
      continue;
    }
    const r = rng.float();
    let d: Draft;
    let tags: TagInfo[];
    let description: string;
    if (r < 0.35) {
      // Up or Down: short crypto markets on consecutive windows.
      const coin = COINS[upDown % COINS.length]!;
      const minutes = [5, 15, 60][rng.int(3)]!;
      const start =
        Math.ceil(baseTs / (minutes * 60_000)) * minutes * 60_000 +
        Math.floor(upDown / COINS.length) * minutes * 60_000;
      upDown++;
      const when = new Date(start);
      const et = (t: Date) => {
        const h = (t.getUTCHours() + 20) % 24;
        return `${h % 12 === 0 ? 12 : h % 12}:${String(t.getUTCMinutes()).padStart(2, '0')}${h < 12 ? 'AM' : 'PM'}`;
      };
      const span = minutes === 60 ? et(when) : `${et(when)}-${et(new Date(start + minutes * 60_000))}`;
      d = {
        labels: ['Up', 'Down'],
        question: `${coin.name} Up or Down - ${MONTHS[when.getUTCMonth()]} ${when.getUTCDate()}, ${span} ET`,
        slug: `${coin.code}-updown-${minutes === 60 ? '1h' : `${minutes}m`}-${start / 1000}`,
        groupItemTitle: '',
        endDate: start + minutes * 60_000,
      };
      tags = [TAGS.crypto!];
      description = `This market resolves to "Up" if the ${coin.name} price at the end of the window is at or above the price at its start, and to "Down" otherwise.`;
    } else if (r < 0.55) {
      const [a, b] = shuffled(rng, TEAMS) as [string, string];
      const start = baseTs + (1 + rng.int(7)) * DAY;
      const day = new Date(start).toISOString().slice(0, 10);
      d = {
        labels: [a, b],
        question: `Counter-Strike: ${a} vs ${b} (BO3) - Simulated Cup Playoffs`,
        slug: `cs2-${a.slice(0, 3).toLowerCase()}-${b.slice(0, 3).toLowerCase()}-${day}`,
        groupItemTitle: 'Match Winner',
        endDate: start + 3 * 3_600_000,
      };
      tags = [TAGS.sports!, TAGS.esports!];
      description = `This market resolves to "${a}" if ${a} wins the match, and to "${b}" otherwise.`;
    } else {
      const coin = rng.pick(COINS);
      const month = MONTHS[(new Date(baseTs).getUTCMonth() + 1 + rng.int(6)) % 12]!;
      const target = Math.round(coin.price * (1.1 + rng.float() * 0.6));
      const question = `Will ${coin.name} reach ${usd(target)} by the end of ${month}?`;
      d = {
        labels: ['Yes', 'No'],
        question,
        slug: `${slugify(question)}-${100 + rng.int(900)}`,
        groupItemTitle: '',
        endDate: Math.ceil((baseTs + (30 + rng.int(180)) * DAY) / DAY) * DAY + 12 * 3_600_000,
      };
      tags = [TAGS.crypto!];
      description = `This market resolves to "Yes" if any ${coin.name} price on Binance reaches ${usd(target)} before the end date, and to "No" otherwise.`;
    }
    drafts[i] = d;
    groups.push({ indices: [i], title: d.question, description, tags, endDate: d.endDate });
    i++;
  }

  /** Builds the events around the exchange markets (same order as the flags). */
  function bind(markets: readonly Market[]): Catalog {
    const catalog = new Catalog();
    const hex = (label: string) =>
      `0x${createHash('sha256')
        .update(`${String(seed)}/${label}`)
        .digest('hex')}`;
    const token = (label: string) =>
      BigInt(
        `0x${createHash('sha256')
          .update(`${String(seed)}/${label}`)
          .digest('hex')}`,
      ).toString();
    const money = () => Math.round(10 ** (1 + rng.float() * 5) * 100) / 100;
    let extra = 0;
    groups.forEach((g, n) => {
      const first = drafts[g.indices[0]!]!;
      const negRiskEvent = negRisk[g.indices[0]!] === true;
      const start = baseTs - (10 + rng.int(200)) * DAY - rng.int(DAY);
      const event: CatalogEvent = {
        gammaId: String(40_000 + n),
        slug: g.indices.length === 1 ? first.slug : slugify(g.title),
        title: g.title,
        description: g.description,
        negRisk: negRiskEvent,
        negRiskMarketId: negRiskEvent ? hex(`negrisk/${n}`) : '',
        tags: g.tags,
        members: [],
        startDate: start,
        createdAt: start - rng.int(3_600_000),
        endDate: g.endDate,
      };
      const member = (
        kind: CatalogMarket['kind'],
        d: Draft,
        m: Market | null,
        ids: { gammaId: string; conditionId: string; tokens: [string, string] | null },
      ): CatalogMarket => {
        // About one market in ten has no 24-hour volume (Gamma then omits the field).
        const volume24h = kind !== 'live' || rng.chance(0.1) ? 0 : money();
        return {
          kind,
          ...ids,
          market: m,
          labels: d.labels,
          question: d.question,
          slug: d.slug,
          description: g.description,
          groupItemTitle: d.groupItemTitle,
          questionId: kind === 'placeholder' ? '' : hex(`question/${ids.gammaId}`),
          volume24h,
          volume: kind === 'placeholder' ? 0 : Math.round((volume24h + money()) * (5 + rng.int(200)) * 1e6) / 1e6,
          liquidity: kind === 'live' ? Math.round(10 ** (2 + rng.float() * 4) * 1e4) / 1e4 : 0,
          tickSize: m ? m.tickText() : rng.chance(0.7) ? '0.01' : '0.001',
          negRisk: negRiskEvent,
          startDate: start + rng.int(DAY),
          createdAt: start - rng.int(3_600_000),
          endDate: kind === 'closed' ? baseTs - (1 + rng.int(60)) * DAY : d.endDate,
          winner: rng.chance(0.5) ? 0 : 1,
          event,
        };
      };
      for (const idx of g.indices) {
        const m = markets[idx]!;
        event.members.push(
          member('live', drafts[idx]!, m, {
            gammaId: m.id,
            conditionId: m.conditionId,
            tokens: [m.yes.id, m.no.id],
          }),
        );
      }
      if (negRiskEvent) {
        // Real multi-market events keep their resolved members and list not-yet-minted ones.
        if (rng.chance(0.5)) {
          const k = extra++;
          const who = g.other ?? NAMES[k % NAMES.length]!;
          const d: Draft = {
            ...first,
            question: `${first.question.replace(first.groupItemTitle, who)}`,
            slug: `${slugify(who)}-${slugify(g.title)}-closed-${k}`,
            groupItemTitle: who,
          };
          event.members.push(
            member('closed', d, null, {
              gammaId: String(500_000 + k),
              conditionId: hex(`closed/${k}`),
              tokens: [token(`closed/${k}/yes`), token(`closed/${k}/no`)],
            }),
          );
        }
        if (rng.chance(0.5)) {
          const k = extra++;
          const d: Draft = {
            ...first,
            question: `${first.question.replace(first.groupItemTitle, 'Person X')}`,
            slug: `${slugify(g.title)}-person-x-${k}`,
            groupItemTitle: 'Person X',
          };
          event.members.push(
            member('placeholder', d, null, { gammaId: String(900_000 + k), conditionId: '', tokens: null }),
          );
        }
      }
      catalog.add(event);
    });
    return catalog;
  }

  return { labels: (i: number): [string, string] => drafts[i]!.labels, bind };
}
