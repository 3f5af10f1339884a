import WebSocket from 'ws'

/** A close as the client saw it. */
export interface Closed {
  readonly code: number
  readonly reason: string
}

/**
 * A raw WebSocket client for tests: queues every message, `next()` awaits the next one matching a predicate,
 * `closed` resolves with the close code. Deterministic: everything is awaited, nothing sleeps.
 */
export class TestClient {
  readonly ws: WebSocket
  readonly closed: Promise<Closed>
  readonly #queue: Array<{ data: Buffer; isBinary: boolean }> = []
  #tap: ((data: Buffer, isBinary: boolean) => void) | null = null
  #waiters: Array<{ match: (data: Buffer, isBinary: boolean) => boolean; resolve: (d: Buffer) => void }> = []

  private constructor(ws: WebSocket) {
    this.ws = ws
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
    ws.on('message', (raw, isBinary) => {
      const data = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw)
      if (this.#tap) return this.#tap(data, isBinary)
      const i = this.#waiters.findIndex((w) => w.match(data, isBinary))
      if (i >= 0) {
        const [w] = this.#waiters.splice(i, 1)
        w?.resolve(data)
      } else this.#queue.push({ data, isBinary })
    })
    ws.on('error', () => undefined)
  }

  /** Connects; resolves once open (auth failures open and then close with a code). */
  static open(
    url: string,
    protocols?: string | string[],
    options?: WebSocket.ClientOptions,
  ): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options)
      const client = new TestClient(ws)
      ws.once('open', () => resolve(client))
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
  }

  /** The next message (queued or future) for which `match` holds. */
  next(match: (data: Buffer, isBinary: boolean) => boolean = () => true): Promise<Buffer> {
    const i = this.#queue.findIndex((m) => match(m.data, m.isBinary))
    if (i >= 0) {
      const [m] = this.#queue.splice(i, 1)
      return Promise.resolve((m as { data: Buffer }).data)
    }
    return new Promise((resolve) => this.#waiters.push({ match, resolve }))
  }

  /** The next JSON message for which `match` holds. */
  async nextJson(
    match: (m: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    const data = await this.next((d, isBinary) => {
      if (isBinary) return false
      try {
        return match(JSON.parse(d.toString()) as Record<string, unknown>)
      } catch {
        return false
      }
    })
    return JSON.parse(data.toString()) as Record<string, unknown>
  }

  /** From now on every message goes to `fn` (queued ones first) instead of the queue. */
  tap(fn: (data: Buffer, isBinary: boolean) => void): void {
    this.#tap = fn
    for (const m of this.#queue.splice(0)) fn(m.data, m.isBinary)
  }

  /** Messages received and not consumed yet. */
  get pending(): number {
    return this.#queue.length
  }

  send(data: Uint8Array | string): void {
    this.ws.send(data)
  }

  sendJson(message: unknown): void {
    this.ws.send(JSON.stringify(message))
  }

  /** Closes (if open) and waits for the close. */
  async close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close()
    return this.closed
  }
}
