import {
  Counter,
  Registry,
  collectDefaultMetrics,
  openMetricsContentType,
  type OpenMetricsContentType,
} from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { CloseCode } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { nodeHttpApp } from '../embed/examples.js'
import { ServerMetrics, type MetricsSources } from '../../src/metrics/ServerMetrics.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { TestClient } from '../helpers/TestClient.js'
import { parsePrometheusText, type PromFamily } from './parsePrometheusText.js'

const sources = (open = { signal: 0, relay: 0 }): MetricsSources => ({
  connections: () => [
    [{ endpoint: 'signal' }, open.signal],
    [{ endpoint: 'relay' }, open.relay],
  ],
  topics: () => 2,
  docsLoaded: () => 3,
  relayRooms: () => 4,
})

/** Every metric of Weft's own, with its type and label names (docs/guides/server.md, "Metrics"). */
const WEFT_METRICS: Record<string, [PromFamily['type'], string[]]> = {
  weft_connections: ['gauge', ['endpoint']],
  weft_connections_total: ['counter', ['endpoint']],
  weft_closes_total: ['counter', ['code']],
  weft_messages_received_total: ['counter', ['endpoint']],
  weft_bytes_received_total: ['counter', ['endpoint']],
  weft_messages_sent_total: ['counter', ['endpoint']],
  weft_bytes_sent_total: ['counter', ['endpoint']],
  weft_signaling_topics: ['gauge', []],
  weft_relay_rooms: ['gauge', []],
  weft_relay_docs_loaded: ['gauge', []],
  weft_relay_updates_total: ['counter', []],
  weft_relay_update_bytes_total: ['counter', []],
  weft_relay_doc_loads_total: ['counter', []],
  weft_relay_doc_unloads_total: ['counter', []],
  weft_relay_load_seconds: ['histogram', []],
  weft_persist_seconds: ['histogram', []],
  weft_persist_commits_total: ['counter', []],
  weft_persist_failures_total: ['counter', []],
  weft_compactions_total: ['counter', []],
  weft_hook_timeouts_total: ['counter', ['hook']],
  weft_hook_calls_coalesced_total: ['counter', ['hook']],
}

/** The process metrics a server with its own registry exports, with their types. */
const PROCESS_METRICS: Record<string, PromFamily['type']> = {
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
  nodejs_heap_used_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
}

/** The value of the sample named `name` (e.g. `x_total`, `h_seconds_count`) with these labels, if scraped. */
const value = (families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}) =>
  [...families.values()]
    .flatMap((family) => family.samples)
    .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

/** Counts a little of everything, as a running server would. */
const exercise = (m: ServerMetrics) => {
  const relay = m.endpoint('relay')
  relay.messagesIn.value += 3
  relay.bytesIn.value += 300
  m.endpoint('signal').messagesOut.inc()
  m.connectionsTotal.labels({ endpoint: 'relay' }).inc()
  m.updates.inc()
  m.updateBytes.inc({}, 120)
  m.countClose(CloseCode.RateLimited)
  m.closes.inc({ code: 'a"b\\c\nd' })
  m.persistSeconds.observe(0.004)
  m.persistSeconds.observe(0.2)
  m.persistSeconds.observe(7)
}

/** A signaling client of `s`, past one ping/pong (so the server has counted it). */
const signalClient = async (s: TestServer): Promise<TestClient> => {
  const c = await TestClient.open(`${s.ws}/signal`)
  c.sendJson({ type: 'ping' })
  await c.nextJson((m) => m['type'] === 'pong')
  return c
}

let srv: TestServer | undefined
afterEach(async () => {
  await srv?.close()
  srv = undefined
})

describe('ServerMetrics', () => {
  it('HTTP-2.1: the scrape is Prometheus text with every documented name, type and label; process_cpu_seconds_total is a counter', async () => {
    const m = new ServerMetrics(sources({ signal: 1, relay: 5 }))
    exercise(m)
    const families = parsePrometheusText(await m.render())
    expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8')
    for (const [name, [type, labelNames]] of Object.entries(WEFT_METRICS)) {
      const family = families.get(name)
      expect(family?.type, name).toBe(type)
      expect(family?.help, name).not.toBe('')
      for (const sample of family?.samples ?? []) {
        const labels = Object.keys(sample.labels).filter((l) => !(type === 'histogram' && l === 'le'))
        expect(labels.sort(), name).toEqual(labelNames)
      }
    }
    for (const [name, type] of Object.entries(PROCESS_METRICS))
      expect(families.get(name)?.type, name).toBe(type)
    expect(value(families, 'process_cpu_seconds_total')).toBeGreaterThan(0)

    expect(value(families, 'weft_connections', { endpoint: 'relay' })).toBe(5)
    expect(value(families, 'weft_connections', { endpoint: 'signal' })).toBe(1)
    expect(value(families, 'weft_signaling_topics')).toBe(2)
    expect(value(families, 'weft_relay_docs_loaded')).toBe(3)
    expect(value(families, 'weft_relay_rooms')).toBe(4)
    expect(value(families, 'weft_messages_received_total', { endpoint: 'relay' })).toBe(3)
    expect(value(families, 'weft_bytes_received_total', { endpoint: 'relay' })).toBe(300)
    expect(value(families, 'weft_messages_sent_total', { endpoint: 'signal' })).toBe(1)
    expect(value(families, 'weft_connections_total', { endpoint: 'relay' })).toBe(1)
    expect(value(families, 'weft_relay_updates_total')).toBe(1)
    expect(value(families, 'weft_relay_update_bytes_total')).toBe(120)
    expect(value(families, 'weft_relay_doc_loads_total')).toBe(0)
    expect(value(families, 'weft_closes_total', { code: 'RateLimited' })).toBe(1)
    expect(value(families, 'weft_closes_total', { code: 'a"b\\c\nd' })).toBe(1)
    const buckets = families.get('weft_persist_seconds')?.samples.filter((s) => s.name.endsWith('_bucket'))
    expect(buckets?.map((s) => [s.labels['le'], s.value])).toEqual([
      ['0.001', 0],
      ['0.0025', 0],
      ['0.005', 1],
      ['0.01', 1],
      ['0.025', 1],
      ['0.05', 1],
      ['0.1', 1],
      ['0.25', 2],
      ['0.5', 2],
      ['1', 2],
      ['2.5', 2],
      ['+Inf', 3],
    ])
    expect(value(families, 'weft_persist_seconds_sum')).toBeCloseTo(7.204)
    expect(value(families, 'weft_persist_seconds_count')).toBe(3)
  })

  it('HTTP-2.1: counters count through their handles and are read at scrape time; gauges are read at scrape time', async () => {
    const open = { signal: 0, relay: 0 }
    const m = new ServerMetrics(sources(open))
    const handle = m.messagesOut.labels({ endpoint: 'relay' })
    expect(m.messagesOut.labels({ endpoint: 'relay' })).toBe(handle)
    handle.value += 2
    open.relay = 7
    let families = parsePrometheusText(await m.render())
    expect(value(families, 'weft_messages_sent_total', { endpoint: 'relay' })).toBe(2)
    expect(value(families, 'weft_connections', { endpoint: 'relay' })).toBe(7)
    handle.value += 3
    open.relay = 6
    families = parsePrometheusText(await m.render())
    expect(value(families, 'weft_messages_sent_total', { endpoint: 'relay' })).toBe(5)
    expect(value(families, 'weft_connections', { endpoint: 'relay' })).toBe(6)
    // The synchronous readers (tests, health checks) agree with the scrape.
    expect(m.messagesOut.get({ endpoint: 'relay' })).toBe(5)
    expect(m.get('weft_messages_sent_total', { endpoint: 'relay' })).toBe(5)
    expect(m.get('weft_connections', { endpoint: 'relay' })).toBe(6)
    expect(m.get('weft_relay_docs_loaded')).toBe(3)
    expect(() => m.closes.labels({ endpoint: 'relay' })).toThrow(/no label endpoint/)
    expect(() => m.updates.inc({ endpoint: 'relay' })).toThrow(/no label endpoint/)
  })

  it('HTTP-2.2: an app registry receives Weft metrics beside its own, without process metrics from Weft', async () => {
    const registry = new Registry()
    const own = new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] })
    own.inc(4)
    collectDefaultMetrics({ register: registry })
    const m = new ServerMetrics(sources({ signal: 0, relay: 2 }), { registry })
    exercise(m)
    expect(m.registry).toBe(registry)
    const families = parsePrometheusText(await registry.metrics())
    expect(value(families, 'app_requests_total')).toBe(4)
    expect(value(families, 'weft_connections', { endpoint: 'relay' })).toBe(2)
    expect(value(families, 'weft_relay_updates_total')).toBe(1)
    expect(families.get('process_cpu_seconds_total')?.type).toBe('counter')
    // Weft's legacy process gauge comes only with the process metrics of a registry Weft owns.
    expect(families.has('nodejs_heap_used_bytes')).toBe(false)
    expect(await m.render()).toMatch(/^app_requests_total 4$/m)

    // One server's metrics at a time: a second one on the same registry is refused until the first unregisters.
    expect(() => new ServerMetrics(sources(), { registry })).toThrow(/already been registered/)
    m.unregister()
    const next = new ServerMetrics(sources(), { registry })
    const after = parsePrometheusText(await registry.metrics())
    expect(value(after, 'weft_relay_updates_total')).toBe(0)
    expect(value(after, 'app_requests_total')).toBe(4)
    expect(next.registry).toBe(registry)
  })

  it('HTTP-2.2: an app registry in the OpenMetrics format gets the same metrics in that format', async () => {
    const registry = new Registry<OpenMetricsContentType>()
    registry.setContentType(openMetricsContentType)
    const m = new ServerMetrics(sources(), { registry })
    m.updates.inc()
    m.countClose(CloseCode.RateLimited)
    const text = await m.render()
    expect(m.contentType).toBe(openMetricsContentType)
    expect(text).toMatch(/^# TYPE weft_relay_updates counter$/m)
    expect(text).toMatch(/^weft_relay_updates_total 1$/m)
    expect(text).toMatch(/^weft_closes_total\{code="RateLimited"\} 1$/m)
    expect(text).toMatch(/^weft_connections\{endpoint="relay"\} 0$/m)
    expect(text.endsWith('# EOF\n')).toBe(true)
  })

  it('HTTP-2.2: two servers in one process each have a private registry; they do not collide', async () => {
    const a = new ServerMetrics(sources({ signal: 1, relay: 0 }))
    const b = new ServerMetrics(sources({ signal: 2, relay: 0 }))
    expect(a.registry).not.toBe(b.registry)
    a.updates.inc()
    a.updates.inc()
    b.updates.inc()
    const [fa, fb] = [parsePrometheusText(await a.render()), parsePrometheusText(await b.render())]
    expect(value(fa, 'weft_relay_updates_total')).toBe(2)
    expect(value(fb, 'weft_relay_updates_total')).toBe(1)
    expect(value(fa, 'weft_connections', { endpoint: 'signal' })).toBe(1)
    expect(value(fb, 'weft_connections', { endpoint: 'signal' })).toBe(2)
    for (const f of [fa, fb]) expect(f.get('process_cpu_seconds_total')?.type).toBe('counter')
  })
})

describe('the metrics option of createWeftServer', () => {
  it('HTTP-2.2: an app registry passed in the options is served at /metrics of a real server and counts its traffic', async () => {
    const registry = new Registry()
    new Counter({ name: 'app_jobs_total', help: 'Jobs.', registers: [registry] }).inc(9)
    srv = await startTestServer({ metrics: { registry } })
    expect(srv.server.metrics.registry).toBe(registry)
    const res = await fetch(`${srv.http}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(registry.contentType)
    const families = parsePrometheusText(await res.text())
    expect(value(families, 'app_jobs_total')).toBe(9)
    expect(families.get('weft_connections_total')?.type).toBe('counter')
    expect(families.has('process_cpu_seconds_total')).toBe(false)
    // The app's own scrape of its registry shows the server's live values.
    const client = await signalClient(srv)
    const scraped = parsePrometheusText(await registry.metrics())
    client.ws.close()
    expect(value(scraped, 'weft_connections_total', { endpoint: 'signal' })).toBe(1)
    expect(value(scraped, 'weft_connections', { endpoint: 'signal' })).toBe(1)
  })

  it('HTTP-2.2: without the option, each server serves its own registry with the process metrics', async () => {
    srv = await startTestServer()
    const other = await startTestServer()
    try {
      const client = await signalClient(srv)
      const scrape = async (s: TestServer) =>
        parsePrometheusText(await (await fetch(`${s.http}/metrics`)).text())
      const [mine, theirs] = [await scrape(srv), await scrape(other)]
      client.ws.close()
      expect(value(mine, 'weft_connections_total', { endpoint: 'signal' })).toBe(1)
      expect(value(theirs, 'weft_connections_total', { endpoint: 'signal' })).toBe(0)
      for (const f of [mine, theirs]) expect(f.get('process_cpu_seconds_total')?.type).toBe('counter')
    } finally {
      await other.close()
    }
  })
})

describe('the metrics option of createWeftRelay', () => {
  it('HTTP-2.2: an embedded relay registers its metrics in the app registry, which the app scrapes', async () => {
    const registry = new Registry()
    const store = new SqliteDocStore({ path: ':memory:' })
    const app = await nodeHttpApp({ store, logger: pino({ level: 'silent' }), metrics: { registry } })
    try {
      expect(app.relay.metrics.registry).toBe(registry)
      const client = await TestClient.open(`${app.relayUrl}/m`)
      await client.next() // the relay's sync step 1: the connection is counted
      const families = parsePrometheusText(await registry.metrics())
      client.ws.close()
      expect(value(families, 'weft_connections', { endpoint: 'relay' })).toBe(1)
      expect(value(families, 'weft_connections_total', { endpoint: 'relay' })).toBe(1)
      expect(families.has('process_cpu_seconds_total')).toBe(false)
    } finally {
      await app.close()
      await store.close()
    }
  })
})
