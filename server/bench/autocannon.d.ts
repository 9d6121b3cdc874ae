declare module 'autocannon' {
  interface Options {
    url: string; connections?: number; duration?: number; pipelining?: number;
    headers?: Record<string, string>; method?: string;
  }
  interface Result {
    requests: { average: number; total: number };
    latency: { p50: number; p90: number; p97_5: number; p99: number };
    errors: number; non2xx: number; timeouts: number;
  }
  interface Instance {
    on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
  }
  function autocannon(options: Options): Instance & PromiseLike<Result>;
  export default autocannon;
}
