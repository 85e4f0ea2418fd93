/**
 * OpenTelemetry instruments for a cache's metrics, through `@opentelemetry/api` (an optional peer
 * dependency, imported only when no meter is passed). Counters become observable counters and
 * gauges observable gauges, with the names of the text exposition and UCUM units (`s`, `By`); one
 * batch callback reads the cache once per collection.
 *
 * The API has no asynchronous histogram (a histogram instrument only records single
 * measurements, which would cost a call on every read of the hot path). The served-age histogram
 * is therefore exported as its Prometheus parts, each an observable counter:
 * `<name>_bucket` (cumulative count per upper bound, attribute `le`), `<name>_sum` (seconds) and
 * `<name>_count`; docs/METRICS.md shows how to query them.
 */
import { MissingDependencyError } from '../errors.js';
import type { MetricUnit } from '../table/metric-defs.js';
import { formatValue } from './prometheus.js';
import { METRIC_FAMILIES, type CacheMetrics, type CacheMetricsSource } from './metrics.js';

/** Options of an OpenTelemetry instrument. */
export interface OtelInstrumentOptions {
  /** The metric's help text. */
  description?: string;
  /** UCUM unit (`s`, `By`); absent for counts and ratios. */
  unit?: string;
}

/** The result object of a batch observable callback. */
export interface OtelBatchObservableResult {
  /** Records `value` for one of the instruments the callback was registered with, with its attributes (labels). */
  observe(observable: object, value: number, attributes?: Record<string, string>): void;
}

/**
 * What polybook needs of an OpenTelemetry `Meter` (`@opentelemetry/api` 1.3 or later). Declared
 * here so that polybook's types do not depend on the package.
 */
export interface OtelMeter {
  /** Creates an observable counter (a monotonic sum), for the counters and the histogram's parts. */
  createObservableCounter(name: string, options?: OtelInstrumentOptions): object;
  /** Creates an observable gauge, for the gauges. */
  createObservableGauge(name: string, options?: OtelInstrumentOptions): object;
  /** Registers the callback that observes `observables` at each collection (polybook registers one). */
  addBatchObservableCallback(callback: (result: OtelBatchObservableResult) => void, observables: object[]): void;
  /** Removes that callback (called by {@link OpenTelemetryBridge.unregister}). */
  removeBatchObservableCallback(callback: (result: OtelBatchObservableResult) => void, observables: object[]): void;
}

/** Options of {@link registerOpenTelemetry}. */
export interface OpenTelemetryOptions {
  /** The meter to create the instruments with. Default: `metrics.getMeter('polybook')` of `@opentelemetry/api`. */
  meter?: OtelMeter;
}

/** What {@link registerOpenTelemetry} created. */
export interface OpenTelemetryBridge {
  /** Names of the instruments. */
  readonly names: readonly string[];
  /** Stops observing (the instruments stay in the meter, without values). Idempotent. */
  unregister(): void;
}

/** UCUM unit of OpenTelemetry for a metric unit. */
const UCUM: Record<MetricUnit, string> = { seconds: 's', bytes: 'By' };

async function defaultMeter(): Promise<OtelMeter> {
  try {
    const api = (await import('@opentelemetry/api')) as unknown as {
      metrics: { getMeter(name: string): OtelMeter };
    };
    return api.metrics.getMeter('polybook');
  } catch (e) {
    throw new MissingDependencyError('@opentelemetry/api', 'registerOpenTelemetry() without a meter', { cause: e });
  }
}

/** Observes one snapshot into the instruments. */
type Observer = (result: OtelBatchObservableResult, m: CacheMetrics) => void;

/**
 * Creates observable instruments for every metric of the cache (see the module comment for the
 * served-age histogram) and one batch callback that reads the cache at each collection.
 *
 * ```ts
 * import { metrics } from '@opentelemetry/api';
 * const bridge = await registerOpenTelemetry(cache, { meter: metrics.getMeter('my-app') });
 * ```
 * @throws MissingDependencyError (`POLYBOOK_MISSING_DEPENDENCY`) when no meter is passed and `@opentelemetry/api` is not installed.
 */
export async function registerOpenTelemetry(
  cache: CacheMetricsSource,
  options: OpenTelemetryOptions = {},
): Promise<OpenTelemetryBridge> {
  const meter = options.meter ?? (await defaultMeter());
  const instruments: object[] = [];
  const names: string[] = [];
  const observers: Observer[] = [];
  const instrument = (kind: 'counter' | 'gauge', name: string, description: string, unit: MetricUnit | null) => {
    const o = { description, ...(unit ? { unit: UCUM[unit] } : {}) };
    const i = kind === 'counter' ? meter.createObservableCounter(name, o) : meter.createObservableGauge(name, o);
    instruments.push(i);
    names.push(name);
    return i;
  };
  for (const f of METRIC_FAMILIES) {
    if (f.kind === 'histogram') {
      const bucket = instrument('counter', `${f.name}_bucket`, `${f.help} Cumulative count per upper bound le.`, null);
      const sum = instrument('counter', `${f.name}_sum`, `${f.help} Sum of the observed values.`, f.unit);
      const count = instrument('counter', `${f.name}_count`, `${f.help} Number of observed values.`, null);
      observers.push((r, m) => {
        for (const h of f.read(m)) {
          for (const b of h.buckets) r.observe(bucket, b.count, { ...h.labels, le: formatValue(b.le) });
          r.observe(sum, h.sum, h.labels);
          r.observe(count, h.count, h.labels);
        }
      });
    } else {
      const i = instrument(f.kind, f.name, f.help, f.unit);
      observers.push((r, m) => {
        for (const s of f.read(m)) r.observe(i, s.value, s.labels);
      });
    }
  }
  const callback = (r: OtelBatchObservableResult): void => {
    const m = cache.metrics();
    for (const o of observers) o(r, m);
  };
  meter.addBatchObservableCallback(callback, instruments);
  let registered = true;
  return {
    names,
    unregister: () => {
      if (!registered) return;
      registered = false;
      meter.removeBatchObservableCallback(callback, instruments);
    },
  };
}
