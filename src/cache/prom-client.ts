/**
 * The prom-client bridge: puts a cache's metrics into a prom-client registry, read from the cache
 * at scrape time, with the names, types and help of the text exposition (one collector per family
 * of {@link METRIC_FAMILIES}). prom-client is an optional peer dependency: it is imported only when
 * no registry is passed (to use its default registry).
 */
import { MetricsConflictError, MissingDependencyError } from '../errors.js';
import type { Labels, MetricFamily } from '../table/metric-defs.js';
import { formatValue } from './prometheus.js';
import { METRIC_FAMILIES, type CacheMetrics, type CacheMetricsSource } from './metrics.js';

/**
 * What polybook needs of a prom-client `Registry` (any version from 13 on). Declared here so that
 * polybook's types do not depend on prom-client.
 */
export interface PrometheusRegistry {
  /** Adds a collector (polybook passes one per metric family, read at scrape time). */
  registerMetric(metric: object): void;
  /** Removes the metric of that name (called by {@link PrometheusBridge.unregister}). */
  removeSingleMetric(name: string): void;
  /** The metric of that name, or undefined when the registry has none (a name taken already is refused). */
  getSingleMetric(name: string): unknown;
}

/** What {@link registerPrometheus} registered. */
export interface PrometheusBridge {
  /** The registry the collectors are in. */
  readonly registry: PrometheusRegistry;
  /** Names of the registered metrics. */
  readonly names: readonly string[];
  /** Removes them from the registry. Idempotent. */
  unregister(): void;
}

/** One sample in prom-client's `MetricObjectWithValues` form. */
interface PromValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/**
 * A prom-client collector: prom-client's registry reads a metric through `get()` (text and JSON),
 * `name` and `reset()`. For an OpenMetrics registry it renames counters (strips `_total` from
 * `name` and adds it to the samples), so `get()` reports `this.name`.
 */
class Collector {
  readonly aggregator = 'sum';
  readonly labelNames: string[];
  readonly type: string;
  readonly help: string;

  constructor(
    public name: string,
    private readonly family: MetricFamily<CacheMetrics>,
    private readonly snapshot: () => CacheMetrics,
  ) {
    this.type = family.kind;
    this.help = family.help;
    this.labelNames = Object.keys(family.labels);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: PromValue[] }> {
    const f = this.family;
    const m = this.snapshot();
    const values: PromValue[] = [];
    if (f.kind === 'histogram') {
      for (const h of f.read(m)) {
        for (const b of h.buckets) {
          values.push({
            value: b.count,
            labels: { ...h.labels, le: formatValue(b.le) },
            metricName: `${this.name}_bucket`,
          });
        }
        values.push({ value: h.sum, labels: h.labels, metricName: `${this.name}_sum` });
        values.push({ value: h.count, labels: h.labels, metricName: `${this.name}_count` });
      }
    } else {
      for (const s of f.read(m)) values.push({ value: s.value, labels: s.labels });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The values are polybook's counters, read at scrape time: nothing to reset here. */
  reset(): void {}
}

async function defaultRegistry(): Promise<PrometheusRegistry> {
  try {
    const client = (await import('prom-client')) as unknown as {
      register?: PrometheusRegistry;
      default?: { register?: PrometheusRegistry };
    };
    const r = client.register ?? client.default?.register;
    if (!r) throw new Error('prom-client exports no default registry');
    return r;
  } catch (e) {
    throw new MissingDependencyError('prom-client', 'registerPrometheus() without a registry', { cause: e });
  }
}

/**
 * Registers collectors for every metric of the cache in a prom-client registry (its default one
 * when `registry` is omitted). Each scrape reads the cache's counters then (one `metrics()` call
 * per scrape), with the same names, types, labels and help as `cache.prometheus()`.
 *
 * ```ts
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * const bridge = await registerPrometheus(cache, registry);
 * // ... registry.metrics() now includes polybook_reads_total, polybook_ws_reconnects_total, ...
 * bridge.unregister();
 * ```
 * @throws MissingDependencyError (`POLYBOOK_MISSING_DEPENDENCY`) when no registry is passed and prom-client is not installed.
 * @throws MetricsConflictError (`POLYBOOK_METRICS_CONFLICT`) when the registry already has one of the names (nothing is registered then).
 */
export async function registerPrometheus(
  cache: CacheMetricsSource,
  registry?: PrometheusRegistry,
): Promise<PrometheusBridge> {
  const reg = registry ?? (await defaultRegistry());
  for (const f of METRIC_FAMILIES)
    if (reg.getSingleMetric(f.name) !== undefined) throw new MetricsConflictError(f.name);
  // prom-client asks every collector within one turn of the event loop: they share one snapshot.
  let snap: CacheMetrics | null = null;
  const snapshot = (): CacheMetrics => {
    if (snap === null) {
      snap = cache.metrics();
      queueMicrotask(() => {
        snap = null;
      });
    }
    return snap;
  };
  const names = METRIC_FAMILIES.map((f) => f.name);
  const collectors = METRIC_FAMILIES.map((f) => new Collector(f.name, f, snapshot));
  for (const c of collectors) reg.registerMetric(c);
  let registered = true;
  return {
    registry: reg,
    names,
    unregister: () => {
      if (!registered) return;
      registered = false;
      // By the registered name: an OpenMetrics registry renames its counters in place.
      names.forEach((name, i) => {
        if (reg.getSingleMetric(name) === collectors[i]) reg.removeSingleMetric(name);
      });
    },
  };
}
