/** The part of autocannon 8's API that bench/http.ts uses (the package ships no types). */
declare module 'autocannon' {
  namespace autocannon {
    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      total: number
      sent: number
      p50: number
      p90: number
      p97_5: number
      p99: number
    }
    interface RequestTemplate {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string
      /** A function, or (with `workers`) the path of a CommonJS module exporting one. */
      setupRequest?: string | ((request: RequestTemplate, context: Record<string, unknown>) => RequestTemplate)
    }
    interface Options {
      url: string
      title?: string
      connections?: number
      duration?: number
      workers?: number
      timeout?: number
      pipelining?: number
      headers?: Record<string, string>
      requests?: RequestTemplate[]
      initialContext?: Record<string, unknown>
    }
    interface Result {
      title?: string
      duration: number
      requests: Histogram
      latency: Histogram
      throughput: Histogram
      errors: number
      timeouts: number
      mismatches: number
      non2xx: number
      '1xx': number
      '2xx': number
      '3xx': number
      '4xx': number
      '5xx': number
      statusCodeStats: Record<string, { count: number }>
    }
    interface Instance extends Promise<Result> {
      stop(): void
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance
  export = autocannon
}
