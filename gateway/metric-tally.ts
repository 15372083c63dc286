/**
 * @module gateway/metric-tally
 * Metrics the gateway updates on every request, at the cost of a Map lookup and an add.
 * prom-client's own `inc()`/`observe()` validate and hash their labels and build closures on
 * each call: about 5 µs a request, 9% of the gateway's CPU under load (`node --cpu-prof`).
 * These keep plain numbers per label set and hand them to the prom-client registry only when
 * it is scraped, in the shape prom-client's own metrics give, so the exposition text is
 * prom-client's and reads the same as before. Cells are found by the label values themselves
 * (a map per first value, of maps per second value), so a request joins no key string: the
 * values are the gateway's own strings, whose hashes V8 keeps.
 */
import { Counter, type Registry } from "prom-client";

type Labels<L extends string> = Record<L, string>;

interface CounterCell<L extends string> {
  labels: Labels<L>;
  value: number;
}

/**
 * A counter keyed by label values. `add()` is the hot path; the registry sees a prom-client
 * Counter that is refilled from the tallies at each scrape (`collect`).
 */
export class TallyCounter<L extends string> {
  readonly #cells = new Cells<CounterCell<L>>();
  readonly #labelNames: readonly L[];

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; registry: Registry }) {
    this.#labelNames = opts.labelNames;
    const cells = this.#cells;
    new Counter<L>({
      name: opts.name,
      help: opts.help,
      labelNames: opts.labelNames,
      registers: [opts.registry],
      collect() {
        this.reset();
        for (const c of cells.all()) this.inc(c.labels, c.value);
      },
    });
  }

  /** Adds 1 to the cell of these label values (in labelNames order: one or two). */
  add(first: string, second?: string): void {
    const cell = this.#cells.get(first, second);
    if (cell) cell.value++;
    else this.#cells.set(first, second, { labels: labelsOf(this.#labelNames, first, second), value: 1 });
  }

  /** The count of these label values (0 when never added). */
  get(first: string, second?: string): number {
    return this.#cells.get(first, second)?.value ?? 0;
  }
}

interface HistogramCell<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** What prom-client's registry reads from a metric (`get()`), for a histogram. */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A histogram keyed by label values, registered with the registry as a metric of its own:
 * `observe()` finds the bucket and adds; `get()` gives cumulative buckets, sum and count the
 * way prom-client's Histogram does.
 */
export class TallyHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly L[];
  #cells = new Cells<HistogramCell<L>>();

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registry: Registry }) {
    this.name = opts.name;
    this.help = opts.help;
    this.#labelNames = opts.labelNames;
    this.#bounds = [...opts.buckets].sort((a, b) => a - b);
    opts.registry.registerMetric(this as never);
  }

  /** Records `value` for these label values (in labelNames order: one or two). */
  observe(value: number, first: string, second?: string): void {
    let cell = this.#cells.get(first, second);
    if (!cell) this.#cells.set(first, second, (cell = { labels: labelsOf(this.#labelNames, first, second), counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }));
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    cell.counts[i]++;
    cell.sum += value;
    cell.count++;
  }

  async get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: string }> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const cell of this.#cells.all()) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += cell.counts[i];
        values.push({ labels: { le: this.#bounds[i], ...cell.labels }, value: acc, metricName: bucket });
      }
      values.push({ labels: { le: "+Inf", ...cell.labels }, value: cell.count, metricName: bucket });
      values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#cells = new Cells();
  }
}

/**
 * Cells by one or two label values: a map per first value, of maps per second value (NO_SECOND
 * when there is none). all() gives them in the order they were made, as prom-client's own do.
 */
class Cells<C> {
  readonly #byFirst = new Map<string, Map<string, C>>();
  readonly #made: C[] = [];

  get(first: string, second: string | undefined): C | undefined {
    return this.#byFirst.get(first)?.get(second ?? NO_SECOND);
  }

  set(first: string, second: string | undefined, cell: C): void {
    let inner = this.#byFirst.get(first);
    if (!inner) this.#byFirst.set(first, (inner = new Map()));
    inner.set(second ?? NO_SECOND, cell);
    this.#made.push(cell);
  }

  all(): readonly C[] {
    return this.#made;
  }
}

/** The second key of a one-label cell: no label value can be a lone NUL. */
const NO_SECOND = "\u0000";

/** The labels object of a new cell; the arity is checked here, once per label set. */
function labelsOf<L extends string>(names: readonly L[], first: string, second: string | undefined): Labels<L> {
  const values = second === undefined ? [first] : [first, second];
  if (values.length !== names.length) throw new Error(`metric labels: expected ${names.join(", ")}, got ${values.length} value(s)`);
  const labels = {} as Labels<L>;
  names.forEach((n, i) => (labels[n] = values[i]));
  return labels;
}
