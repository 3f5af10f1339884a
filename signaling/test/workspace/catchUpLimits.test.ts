import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { decodeWorkspaceFrame, encodeCatchUp, type WorkspaceFrame } from '@weft/core/protocol'
import { SqliteDocStore } from '@weft/sqlite-store'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'
import { MIN_CHANGES_PAGE, WorkspaceEndpoint } from '../../src/workspace/WorkspaceEndpoint.js'
import type { WorkspaceSocket } from '../../src/workspace/WorkspaceSession.js'
import type { RelaySocketHandler } from '../../src/relay/RelaySocket.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

type Changes = Extract<WorkspaceFrame, { kind: 'changes' }>

/** A store whose workspace `team` holds `count` documents, changed once each (seq 1..count). */
const seeded = async (count: number): Promise<SqliteDocStore> => {
  const store = new SqliteDocStore({ path: ':memory:' })
  const update = (() => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'x')
    return Y.encodeStateAsUpdate(doc)
  })()
  for (let i = 0; i < count; i++) await store.append(docId(`team/d${i}`), update)
  return store
}

/** The workspace socket of a session in memory: a reader that takes everything at once; keeps the CHANGES pages. */
class ReadingSocket implements WorkspaceSocket {
  open = true
  readonly bufferedAmount = 0
  readonly logger = pino({ level: 'silent' })
  readonly pages: Changes[] = []
  handler: RelaySocketHandler | null = null
  #waiters: Array<() => void> = []

  attach(handler: RelaySocketHandler): void {
    this.handler = handler
  }
  send(message: Uint8Array | SharedMessage): boolean {
    const bytes = message instanceof Uint8Array ? message : Buffer.concat(message.parts)
    const decoded = decodeWorkspaceFrame(bytes)
    if (decoded.ok && decoded.frame.kind === 'changes') this.pages.push(decoded.frame)
    for (const wake of this.#waiters.splice(0)) wake()
    return this.open
  }
  close(): void {
    this.open = false
  }
  trackInput(): void {}

  /** A CATCH_UP frame from the client. */
  catchUp(cursor: number, pageSize: number): void {
    void this.handler?.onMessage(Buffer.from(encodeCatchUp(cursor, pageSize)), true)
  }

  /** Resolves once `n` answers ended (`n` pages with `more` 0 arrived). */
  async answers(n: number): Promise<void> {
    while (this.pages.filter((p) => !p.more).length < n) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve))
    }
  }
}

const endpoints: WorkspaceEndpoint[] = []
const stores: SqliteDocStore[] = []
let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
  for (const e of endpoints.splice(0)) await e.close()
  for (const s of stores.splice(0)) await s.close()
})

/** A workspace endpoint over `store` and one reading socket of workspace `team` (every document granted). */
const session = (store: SqliteDocStore): ReadingSocket => {
  const endpoint = new WorkspaceEndpoint({
    store,
    join: () => null,
    regrant: () => undefined,
    maxSubscriptions: 1000,
    maxBufferedBytes: 8 << 20,
    logger: pino({ level: 'silent' }),
  })
  endpoints.push(endpoint)
  stores.push(store)
  const socket = new ReadingSocket()
  const grant = new RoomGrant({ 'team/*': 'read' })
  endpoint.accept(socket, 'team', { grant, id: 1, clientAddress: '' }, (fn) => setImmediate(fn))
  return socket
}

describe('workspace endpoint: the cost of catch-ups (WS-RELAY-11)', () => {
  it('WS-RELAY-11: CATCH_UP frames sent while one is answered merge into one waiting answer, in pages of at least MIN_CHANGES_PAGE', async () => {
    const socket = session(await seeded(250))
    // 50 catch-ups asking for pages of 1: one is answered, the other 49 wait as one.
    for (let i = 0; i < 50; i++) socket.catchUp(0, 1)
    await socket.answers(2)
    // A catch-up from the end: answered after the two, as its own answer (no third full one comes first).
    socket.catchUp(250, 1000)
    await socket.answers(3)
    const pages = socket.pages.map((p) => ({ docs: p.changes.length, through: p.through, more: p.more }))
    const answer = [
      { docs: MIN_CHANGES_PAGE, through: 100, more: true },
      { docs: MIN_CHANGES_PAGE, through: 200, more: true },
      { docs: 50, through: 250, more: false },
    ]
    expect(pages).toEqual([...answer, ...answer, { docs: 0, through: 250, more: false }])
  })

  it('WS-RELAY-11: each page of an answer is read in its own turn of the event loop', async () => {
    const socket = session(await seeded(300))
    socket.catchUp(0, 100)
    // Queued once the frame was handled: runs before the answer's second page (a synchronous store included).
    const pagesBefore = new Promise<number>((resolve) => setImmediate(() => resolve(socket.pages.length)))
    await socket.answers(1)
    expect(socket.pages).toHaveLength(3)
    expect(await pagesBefore).toBeLessThan(2)
  })

  it("WS-RELAY-11: 200 CATCH_UP frames of one socket do not hold back another socket's commit; the answer is bounded", async () => {
    const docs = 1000
    const store = await seeded(docs)
    srv = await startTestServer({ store })
    const flooder = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    const writer = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(flooder, writer)
    const ydoc = writer.subscribe('x')
    await writer.synced('x')
    // A catch-up answered: the sockets' starting point is read, so the writer's commit is pushed to the flooder.
    flooder.catchUp(docs)
    await flooder.next((f) => f.kind === 'changes' && !f.more)
    const from = flooder.frames.length

    for (let i = 0; i < 200; i++) flooder.send(encodeCatchUp(0, 1))
    ydoc.getText('t').insert(0, 'edit')
    // The writer's commit reaches the flooder as CHANGED, between the catch-up pages the relay wrote to it.
    const changed = await flooder.next((f) => f.kind === 'changed' && f.doc === 'x', from)
    const pagesBefore = flooder.frames.slice(from, changed.index).filter((r) => r.frame.kind === 'changes')
    // Without the limits the relay writes pages of 1 document, at least a whole answer (1,000 pages) before it reads
    // the writer's frame; with them an answer is 10 pages and the waiting ones merge.
    expect(pagesBefore.length).toBeLessThan(docs)
    for (const r of pagesBefore) {
      const page = r.frame as Changes
      if (page.more) expect(page.changes).toHaveLength(MIN_CHANGES_PAGE)
    }
  })
})
