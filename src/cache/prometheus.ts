/**
 * A small writer of the Prometheus text exposition format (version 0.0.4), with no dependency:
 * `# HELP`, `# TYPE`, samples with escaped labels, histograms with cumulative `_bucket{le}`,
 * `_sum` and `_count`. Used by `BookCache.prometheus()`.
 */
import { invalidArgument } from '../errors.js';

export type Labels = Record<string, string | number>;
type Kind = 'counter' | 'gauge' | 'histogram';

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

function labelText(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys
    .map((k) => {
      if (!LABEL.test(k)) throw invalidArgument('type', `polybook: invalid Prometheus label name ${JSON.stringify(k)}`);
      return `${k}="${escapeLabel(String(labels[k]))}"`;
    })
    .join(',')}}`;
}

/**
 * Accumulates metric families. Each family is declared once (HELP and TYPE), with any number of
 * labelled samples; families keep the order of their first declaration.
 */
export class PromText {
  private readonly families = new Map<string, { help: string; kind: Kind; lines: string[] }>();

  private family(name: string, kind: Kind, help: string) {
    if (!NAME.test(name))
      throw invalidArgument('type', `polybook: invalid Prometheus metric name ${JSON.stringify(name)}`);
    let f = this.families.get(name);
    if (!f) {
      f = { help, kind, lines: [] };
      this.families.set(name, f);
    } else if (f.kind !== kind) {
      throw invalidArgument('type', `polybook: metric ${name} declared as ${f.kind} and ${kind}`);
    }
    return f;
  }

  /** A monotone total; the name should end in `_total`. */
  counter(name: string, help: string, value: number, labels?: Labels): this {
    this.family(name, 'counter', help).lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  gauge(name: string, help: string, value: number, labels?: Labels): this {
    this.family(name, 'gauge', help).lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  /**
   * A histogram from per-bucket (not cumulative) counts; `buckets[i].le` are upper bounds in the
   * metric's unit, the last one `Infinity`.
   */
  histogram(
    name: string,
    help: string,
    buckets: readonly { le: number; count: number }[],
    sum: number,
    labels?: Labels,
  ): this {
    const f = this.family(name, 'histogram', help);
    let cumulative = 0;
    let sawInf = false;
    for (const b of buckets) {
      cumulative += b.count;
      if (b.le === Infinity) sawInf = true;
      f.lines.push(`${name}_bucket${labelText({ ...labels, le: formatValue(b.le) })} ${formatValue(cumulative)}`);
    }
    if (!sawInf) f.lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${formatValue(cumulative)}`);
    f.lines.push(`${name}_sum${labelText(labels)} ${formatValue(sum)}`);
    f.lines.push(`${name}_count${labelText(labels)} ${formatValue(cumulative)}`);
    return this;
  }

  /** The exposition text (ends with a newline). */
  toString(): string {
    let out = '';
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.kind}\n`;
      for (const l of f.lines) out += `${l}\n`;
    }
    return out;
  }
}

/** The HTTP `Content-Type` of the text exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `snapshotsApplied` -> `snapshots_applied`. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
