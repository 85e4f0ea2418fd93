/**
 * The Prometheus text exposition format (version 0.0.4), with no dependency: `# HELP`, `# TYPE`,
 * samples with escaped labels, histograms as cumulative `_bucket{le}`, `_sum` and `_count`.
 * `BookCache.prometheus()` renders {@link METRIC_FAMILIES} with it.
 */
import type { Labels, MetricFamily } from '../table/metric-defs.js';
import { METRIC_FAMILIES, type CacheMetrics } from './metrics.js';

/** The HTTP `Content-Type` of the text exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Formats a sample value the way Prometheus parses it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, le?: number): string {
  const parts: string[] = [];
  for (const k of Object.keys(labels)) {
    if (!LABEL.test(k)) throw new TypeError(`polybook: invalid Prometheus label name ${JSON.stringify(k)}`);
    parts.push(`${k}="${escapeLabel(labels[k])}"`);
  }
  if (le !== undefined) parts.push(`le="${formatValue(le)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * Renders metric families read from `source` as the text exposition (ends with a newline). Every
 * family is declared (HELP and TYPE) even when it has no sample at the moment, as prom-client does.
 * @throws TypeError on a name or label name Prometheus would reject (a bug in a definition).
 */
export function renderPrometheus<S>(families: readonly MetricFamily<S>[], source: S): string {
  let out = '';
  for (const f of families) {
    if (!NAME.test(f.name)) throw new TypeError(`polybook: invalid Prometheus metric name ${JSON.stringify(f.name)}`);
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.kind}\n`;
    if (f.kind === 'histogram') {
      for (const h of f.read(source)) {
        for (const b of h.buckets) out += `${f.name}_bucket${labelText(h.labels, b.le)} ${formatValue(b.count)}\n`;
        out += `${f.name}_sum${labelText(h.labels)} ${formatValue(h.sum)}\n`;
        out += `${f.name}_count${labelText(h.labels)} ${formatValue(h.count)}\n`;
      }
    } else {
      for (const s of f.read(source)) out += `${f.name}${labelText(s.labels)} ${formatValue(s.value)}\n`;
    }
  }
  return out;
}

/** The text exposition of a cache's metrics (`BookCache.prometheus()`). */
export function renderCachePrometheus(m: CacheMetrics): string {
  return renderPrometheus(METRIC_FAMILIES, m);
}
