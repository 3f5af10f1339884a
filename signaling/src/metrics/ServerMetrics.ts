import { closeCodeName } from '@weft/core'
import {
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
  type CounterHandle,
  type Labels,
} from './MetricsRegistry.js'

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

/** Every metric the Weft server exports at `/metrics`. Names are documented in docs/guides/server.md. */
export class ServerMetrics {
  readonly registry = new MetricsRegistry()
  /** Content type of {@link ServerMetrics.render}. */
  readonly contentType = PROMETHEUS_CONTENT_TYPE

  readonly connectionsTotal = this.registry.counter(
    'weft_connections_total',
    'WebSocket connections accepted, by endpoint.',
  )
  readonly closes = this.registry.counter(
    'weft_closes_total',
    'Connections closed by the server, by close code name.',
  )
  readonly messagesIn = this.registry.counter('weft_messages_received_total', 'WebSocket messages received.')
  readonly bytesIn = this.registry.counter('weft_bytes_received_total', 'WebSocket payload bytes received.')
  readonly messagesOut = this.registry.counter('weft_messages_sent_total', 'WebSocket messages sent.')
  readonly bytesOut = this.registry.counter('weft_bytes_sent_total', 'WebSocket payload bytes sent.')
  readonly updates = this.registry.counter(
    'weft_relay_updates_total',
    'Document updates accepted by the relay.',
  )
  readonly updateBytes = this.registry.counter(
    'weft_relay_update_bytes_total',
    'Bytes of accepted document updates.',
  )
  readonly docLoads = this.registry.counter('weft_relay_doc_loads_total', 'Documents loaded from the store.')
  readonly docUnloads = this.registry.counter('weft_relay_doc_unloads_total', 'Idle documents unloaded.')
  readonly commits = this.registry.counter(
    'weft_persist_commits_total',
    'Group commits written to the store.',
  )
  readonly persistFailures = this.registry.counter('weft_persist_failures_total', 'Store writes that failed.')
  readonly compactions = this.registry.counter('weft_compactions_total', 'Log compactions run by the relay.')
  readonly persistSeconds = this.registry.histogram(
    'weft_persist_seconds',
    'Time from accepting an update to it being durable (group commit latency).',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  )
  readonly loadSeconds = this.registry.histogram(
    'weft_relay_load_seconds',
    'Time to load a document from the store.',
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  )

  constructor(sources: MetricsSources) {
    const startSeconds = Math.round(Date.now() / 1000 - process.uptime())
    this.registry.gauge('weft_connections', 'Open WebSocket connections, by endpoint.', sources.connections)
    this.registry.gauge(
      'weft_signaling_topics',
      'Signaling topics with at least one subscriber.',
      sources.topics,
    )
    this.registry.gauge('weft_relay_docs_loaded', 'Relay documents loaded in memory.', sources.docsLoaded)
    this.registry.gauge('weft_relay_rooms', 'Relay rooms with at least one connection.', sources.relayRooms)
    this.registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () =>
      process.memoryUsage.rss(),
    )
    this.registry.gauge(
      'nodejs_heap_used_bytes',
      'V8 heap in use, in bytes.',
      () => process.memoryUsage().heapUsed,
    )
    this.registry.gauge('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', () => {
      const { user, system } = process.cpuUsage()
      return (user + system) / 1e6
    })
    this.registry.gauge(
      'process_start_time_seconds',
      'Start time of the process, in Unix seconds.',
      () => startSeconds,
    )
  }

  readonly #endpoints = new Map<Endpoint, EndpointCounters>()

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

  /** The exposition text. */
  render(): string {
    return this.registry.render()
  }
}
