import { Gauge, Registry } from 'prom-client'
import { closeCodeName } from '@weft/core'
import { CountedHistogram } from './CountedHistogram.js'
import { FastCounter, type CounterHandle, type Labels, type PromRegistry } from './FastCounter.js'
import { registerProcessMetrics } from './registerProcessMetrics.js'

/** Which route a WebSocket connection belongs to. */
export type Endpoint = 'signal' | 'relay'

/** The per-message counters of one endpoint, resolved once (see {@link ServerMetrics.endpoint}). */
export interface EndpointCounters {
  readonly messagesIn: CounterHandle
  readonly bytesIn: CounterHandle
  readonly messagesOut: CounterHandle
  readonly bytesOut: CounterHandle
}

/** Live values the metrics read at scrape time. */
export interface MetricsSources {
  /** Open connections per endpoint. */
  readonly connections: () => ReadonlyArray<readonly [Labels, number]>
  /** Signaling topics with at least one subscriber. */
  readonly topics: () => number
  /** Relay documents currently loaded in memory. */
  readonly docsLoaded: () => number
  /** Relay rooms with at least one connection. */
  readonly relayRooms: () => number
}

/** Options of {@link ServerMetrics}. */
export interface ServerMetricsOptions {
  /**
   * The prom-client registry to register Weft's metrics in, e.g. the app's own, so that one scrape shows both.
   * Default: a private registry, which also gets prom-client's default process metrics. A registry passed here gets
   * only Weft's own metrics (call prom-client's `collectDefaultMetrics({ register })` for the process ones); it
   * can hold the metrics of one server at a time (see {@link ServerMetrics.unregister}).
   */
  readonly registry?: PromRegistry | undefined
}

/** What a gauge reads at scrape time: one value, or one value per label set. */
export type GaugeSource = () => number | ReadonlyArray<readonly [Labels, number]>

/**
 * Every metric the Weft server exports at `/metrics`, in a prom-client registry. Names are documented in
 * docs/guides/server.md. The server increments the fields; gauges are read from callbacks when the registry is
 * scraped (prom-client `collect()`).
 */
export class ServerMetrics {
  /** The prom-client registry holding the metrics (the one passed in the options, or a private one). */
  readonly registry: PromRegistry
  /** `weft_connections_total{endpoint}`: WebSocket connections accepted. */
  readonly connectionsTotal: FastCounter
  /** `weft_closes_total{code}`: connections closed by the server, by close code name (see {@link countClose}). */
  readonly closes: FastCounter
  /** `weft_messages_received_total{endpoint}` (per-endpoint handles: {@link endpoint}). */
  readonly messagesIn: FastCounter
  /** `weft_bytes_received_total{endpoint}`: WebSocket payload bytes received. */
  readonly bytesIn: FastCounter
  /** `weft_messages_sent_total{endpoint}`. */
  readonly messagesOut: FastCounter
  /** `weft_bytes_sent_total{endpoint}`: WebSocket payload bytes sent. */
  readonly bytesOut: FastCounter
  /** `weft_relay_updates_total`: document updates accepted by the relay. */
  readonly updates: FastCounter
  /** `weft_relay_update_bytes_total`: bytes of accepted document updates. */
  readonly updateBytes: FastCounter
  /** `weft_relay_doc_loads_total`: documents loaded from the store. */
  readonly docLoads: FastCounter
  /** `weft_relay_doc_unloads_total`: idle documents unloaded. */
  readonly docUnloads: FastCounter
  /** `weft_persist_commits_total`: group commits written to the store. */
  readonly commits: FastCounter
  /** `weft_persist_failures_total`: store writes that failed. */
  readonly persistFailures: FastCounter
  /** `weft_compactions_total`: log compactions run by the relay. */
  readonly compactions: FastCounter
  /** `weft_hook_timeouts_total{hook}`: `onStored` and `onDisconnect` calls given up after `hookTimeoutMs` (HOOK-5.1). */
  readonly hookTimeouts: FastCounter
  /** `weft_hook_calls_coalesced_total{hook}`: `onStored` calls folded into a later one of the same room (HOOK-5.2). */
  readonly hookCallsCoalesced: FastCounter
  /** `weft_persist_seconds`: from accepting an update to it being durable. */
  readonly persistSeconds: CountedHistogram
  /** `weft_relay_load_seconds`: time to load a document from the store. */
  readonly loadSeconds: CountedHistogram
  /** Names of the metrics this object registered (not the process metrics), with a synchronous reader each. */
  readonly #own = new Map<string, (labels: Labels) => number>()
  readonly #endpoints = new Map<Endpoint, EndpointCounters>()

  /** Registers every metric (gauges read `sources` at scrape time) in the options' registry or a private one. */
  constructor(sources: MetricsSources, options: ServerMetricsOptions = {}) {
    if (options.registry) this.registry = options.registry
    else {
      const own = new Registry()
      registerProcessMetrics(own)
      this.registry = own
    }
    const counter = (name: string, help: string, labelNames: readonly string[] = []) => {
      const metric = new FastCounter(this.registry, name, help, labelNames)
      this.#own.set(name, (labels) => metric.get(labels))
      return metric
    }
    const histogram = (name: string, help: string, buckets: readonly number[]) => {
      const metric = new CountedHistogram(this.registry, name, help, buckets)
      this.#own.set(name, () => metric.count)
      return metric
    }
    const endpoint = ['endpoint']
    this.connectionsTotal = counter(
      'weft_connections_total',
      'WebSocket connections accepted, by endpoint.',
      endpoint,
    )
    this.closes = counter('weft_closes_total', 'Connections closed by the server, by close code name.', [
      'code',
    ])
    this.messagesIn = counter('weft_messages_received_total', 'WebSocket messages received.', endpoint)
    this.bytesIn = counter('weft_bytes_received_total', 'WebSocket payload bytes received.', endpoint)
    this.messagesOut = counter('weft_messages_sent_total', 'WebSocket messages sent.', endpoint)
    this.bytesOut = counter('weft_bytes_sent_total', 'WebSocket payload bytes sent.', endpoint)
    this.updates = counter('weft_relay_updates_total', 'Document updates accepted by the relay.')
    this.updateBytes = counter('weft_relay_update_bytes_total', 'Bytes of accepted document updates.')
    this.docLoads = counter('weft_relay_doc_loads_total', 'Documents loaded from the store.')
    this.docUnloads = counter('weft_relay_doc_unloads_total', 'Idle documents unloaded.')
    this.commits = counter('weft_persist_commits_total', 'Group commits written to the store.')
    this.persistFailures = counter('weft_persist_failures_total', 'Store writes that failed.')
    this.compactions = counter('weft_compactions_total', 'Log compactions run by the relay.')
    this.hookTimeouts = counter(
      'weft_hook_timeouts_total',
      'Hook calls (onStored, onDisconnect) given up after hookTimeoutMs, by hook.',
      ['hook'],
    )
    this.hookCallsCoalesced = counter(
      'weft_hook_calls_coalesced_total',
      'onStored calls folded into a later call of the same room (its clock covers them), by hook.',
      ['hook'],
    )
    this.persistSeconds = histogram(
      'weft_persist_seconds',
      'Time from accepting an update to it being durable (group commit latency).',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    )
    this.loadSeconds = histogram(
      'weft_relay_load_seconds',
      'Time to load a document from the store.',
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    )
    this.gauge('weft_connections', 'Open WebSocket connections, by endpoint.', sources.connections, endpoint)
    this.gauge('weft_signaling_topics', 'Signaling topics with at least one subscriber.', sources.topics)
    this.gauge('weft_relay_docs_loaded', 'Relay documents loaded in memory.', sources.docsLoaded)
    this.gauge('weft_relay_rooms', 'Relay rooms with at least one connection.', sources.relayRooms)
  }

  /** Content type of {@link ServerMetrics.render}'s text (the registry's: Prometheus text format 0.0.4 by default). */
  get contentType(): string {
    return this.registry.contentType
  }

  /**
   * Registers a gauge read from `read` at scrape time (its prom-client `collect()`). `labelNames` names every label
   * of the samples `read` returns; without labels, `read` returns one number.
   */
  gauge(name: string, help: string, read: GaugeSource, labelNames: readonly string[] = []): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: Gauge) {
        const value = read()
        if (typeof value === 'number') return void this.set(value)
        this.reset()
        for (const [labels, n] of value) this.set(labels, n)
      },
    })
    this.#own.set(name, (labels) => {
      const value = read()
      if (typeof value === 'number') return value
      const want = Object.entries(labels)
      return value.find(([l]) => want.every(([k, v]) => l[k] === v))?.[1] ?? 0
    })
  }

  /** The message and byte counters of `endpoint`, as handles to increment without label lookups. */
  endpoint(endpoint: Endpoint): EndpointCounters {
    let counters = this.#endpoints.get(endpoint)
    if (!counters) {
      const labels = { endpoint }
      counters = {
        messagesIn: this.messagesIn.labels(labels),
        bytesIn: this.bytesIn.labels(labels),
        messagesOut: this.messagesOut.labels(labels),
        bytesOut: this.bytesOut.labels(labels),
      }
      this.#endpoints.set(endpoint, counters)
    }
    return counters
  }

  /** Counts a close initiated by the server. */
  countClose(code: number): void {
    this.closes.inc({ code: closeCodeName(code) ?? String(code) })
  }

  /**
   * The current value of one of Weft's own metrics, read synchronously (prom-client's reads are asynchronous): a
   * counter's or gauge's sample with these labels, a histogram's observation count. 0 for an unknown sample.
   */
  get(name: string, labels: Labels = {}): number {
    return this.#own.get(name)?.(labels) ?? 0
  }

  /** The registry's exposition text (prom-client's `registry.metrics()`), for `/metrics`. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /**
   * Removes Weft's own metrics from the registry (not the process metrics), so that a server created after this one
   * can register them in the same app registry.
   */
  unregister(): void {
    for (const name of this.#own.keys()) this.registry.removeSingleMetric(name)
  }
}
