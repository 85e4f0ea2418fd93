/**
 * How a metric is defined, once, for every place that shows it. Each source of figures keeps one
 * table of definitions (read and writer counters: table/metrics.ts, feed stats: feed/stats.ts,
 * cache counters: cache/metrics.ts); the Prometheus text, the prom-client collectors, the
 * OpenTelemetry instruments and the table in docs/METRICS.md are all generated from them.
 */

/** A counter only goes up (its name ends in `_total`); a gauge goes up and down. */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** The base unit of an exported metric, also the suffix in its name (`_seconds`, `_bytes`). */
export type MetricUnit = 'seconds' | 'bytes';

/** Label names to values. */
export type Labels = Readonly<Record<string, string>>;

/** One value of a counter or gauge. */
export interface Sample {
  /** The sample's label values (empty for an unlabelled family). */
  readonly labels: Labels;
  /** The value, in the family's unit (seconds, bytes) or a plain count. */
  readonly value: number;
}

/** One histogram: cumulative counts per upper bound (in the metric's unit; the last one is `Infinity`). */
export interface HistogramSample {
  /** The histogram's label values (without `le`). */
  readonly labels: Labels;
  /** One entry per bucket, in increasing order of `le`. */
  readonly buckets: readonly {
    /** Upper bound of the bucket, inclusive, in the metric's unit (`Infinity` for the last). */
    readonly le: number;
    /** Observations at or below `le` (cumulative). */
    readonly count: number;
  }[];
  /** Sum of all observations, in the metric's unit. */
  readonly sum: number;
  /** Number of observations (the last bucket's count). */
  readonly count: number;
}

interface FamilyBase {
  /** The exported name (Prometheus text, prom-client, OpenTelemetry). */
  readonly name: string;
  /** One line saying what the metric measures (the `# HELP` text, the OpenTelemetry description). */
  readonly help: string;
  /** Unit of the exported values, or null for counts and ratios. */
  readonly unit: MetricUnit | null;
  /** Each label's name and the values it takes (histograms add `le`). */
  readonly labels: Readonly<Record<string, readonly string[]>>;
}

/** A counter or gauge family: its samples read from a source `S`. */
export interface ScalarFamily<S> extends FamilyBase {
  /** Whether the values only go up (`counter`) or go up and down (`gauge`). */
  readonly kind: 'counter' | 'gauge';
  /** The family's current samples, one per label combination; none when the part of `source` it reads is absent (the feed of a disabled cache). */
  read(source: S): readonly Sample[];
}

/** A histogram family: its histograms read from a source `S`. */
export interface HistogramFamily<S> extends FamilyBase {
  /** Always `histogram`: the values are bucket counts, a sum and a count. */
  readonly kind: 'histogram';
  /** Upper bounds of the buckets, in the metric's unit (without the final `+Inf`). */
  readonly bounds: readonly number[];
  /** The family's current histograms, one per label combination (none when the part of `source` it reads is absent). */
  read(source: S): readonly HistogramSample[];
}

/** One exported metric: a name, a kind, a unit, a help text, labels, and how to read its values. */
export type MetricFamily<S> = ScalarFamily<S> | HistogramFamily<S>;

/**
 * One numeric field of a stats object (`FeedStats`, `CacheCounters`) and the metric it is
 * exported as. The object's type is derived from its table of these.
 */
export interface FieldDef {
  /** The exported name, or null for a field kept for dashboards only (a rate: use `rate()` on its counter). */
  readonly name: string | null;
  /** Whether the field only goes up (`counter`, exported with `_total`) or goes up and down (`gauge`). */
  readonly kind: 'counter' | 'gauge';
  /** Unit of the exported value. */
  readonly unit: MetricUnit | null;
  /** The exported value is the field's value divided by this (1000 for a field in ms exported in seconds). */
  readonly divisor: number;
  /** One line saying what the field counts (the metric's help text, and docs/METRICS.md). */
  readonly help: string;
}

/** A counter field. `divisor` 1000: the field is in ms and the metric in seconds. */
export function counterField(name: string | null, help: string, unit: MetricUnit | null = null, divisor = 1): FieldDef {
  return { name, kind: 'counter', unit, divisor, help };
}

/** A gauge field. `divisor` 1000: the field is in ms and the metric in seconds. */
export function gaugeField(name: string | null, help: string, unit: MetricUnit | null = null, divisor = 1): FieldDef {
  return { name, kind: 'gauge', unit, divisor, help };
}

const NO_LABELS = Object.freeze({});

/** The families of a field table: one unlabelled family per exported field. */
export function fieldFamilies<K extends string>(
  table: Readonly<Record<K, FieldDef>>,
): ScalarFamily<Record<K, number>>[] {
  const out: ScalarFamily<Record<K, number>>[] = [];
  for (const key of Object.keys(table) as K[]) {
    const d = table[key];
    if (d.name === null) continue;
    const divisor = d.divisor;
    out.push({
      name: d.name,
      kind: d.kind,
      unit: d.unit,
      help: d.help,
      labels: NO_LABELS,
      read: (s) => [{ labels: NO_LABELS, value: divisor === 1 ? s[key] : s[key] / divisor }],
    });
  }
  return out;
}

/** A family of a single unlabelled value. */
export function scalarFamily<S>(
  kind: 'counter' | 'gauge',
  name: string,
  help: string,
  unit: MetricUnit | null,
  value: (source: S) => number,
): ScalarFamily<S> {
  return { name, kind, unit, help, labels: NO_LABELS, read: (s) => [{ labels: NO_LABELS, value: value(s) }] };
}

/** The same family read from a part of a larger source; no samples while that part is null. */
export function liftFamily<S, T>(f: MetricFamily<T>, part: (source: S) => T | null): MetricFamily<S> {
  if (f.kind === 'histogram') {
    return {
      ...f,
      read: (s) => {
        const p = part(s);
        return p === null ? [] : f.read(p);
      },
    };
  }
  return {
    ...f,
    read: (s) => {
      const p = part(s);
      return p === null ? [] : f.read(p);
    },
  };
}
