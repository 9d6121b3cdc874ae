// Prometheus metrics in the text exposition format, hand-rolled: request counts and a duration
// histogram by method, route pattern (never the raw path, which carries ids) and status.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series { count: number; sum: number; buckets: number[] }

export class Metrics {
  readonly #series = new Map<string, Series>();
  readonly #gauges = new Map<string, () => number>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${method}",route="${escape(route)}",status="${status}"`;
    let s = this.#series.get(key);
    if (!s) {
      s = { count: 0, sum: 0, buckets: BUCKETS.map(() => 0) };
      this.#series.set(key, s);
    }
    s.count += 1;
    s.sum += seconds;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) s.buckets[i]! += 1;
    });
  }

  /** Registers a gauge read at scrape time (e.g. open WebSockets). */
  gauge(name: string, read: () => number): void {
    this.#gauges.set(name, read);
  }

  render(): string {
    const lines = [
      '# HELP coffer_http_requests_total HTTP requests answered.',
      '# TYPE coffer_http_requests_total counter',
    ];
    for (const [key, s] of this.#series) lines.push(`coffer_http_requests_total{${key}} ${s.count}`);
    lines.push('# HELP coffer_http_request_duration_seconds Time to answer HTTP requests.');
    lines.push('# TYPE coffer_http_request_duration_seconds histogram');
    for (const [key, s] of this.#series) {
      BUCKETS.forEach((b, i) => lines.push(`coffer_http_request_duration_seconds_bucket{${key},le="${b}"} ${s.buckets[i]}`));
      lines.push(`coffer_http_request_duration_seconds_bucket{${key},le="+Inf"} ${s.count}`);
      lines.push(`coffer_http_request_duration_seconds_sum{${key}} ${s.sum}`);
      lines.push(`coffer_http_request_duration_seconds_count{${key}} ${s.count}`);
    }
    for (const [name, read] of this.#gauges) {
      lines.push(`# TYPE ${name} gauge`, `${name} ${read()}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function escape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
