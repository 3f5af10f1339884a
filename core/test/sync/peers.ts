import * as Y from 'yjs'
import { SyncSession, type SyncSessionOptions, type WeftError } from '../../src/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'

/** A test peer: a doc, its session, and one transport per link. */
export interface TestPeer {
  readonly name: string
  readonly doc: Y.Doc
  readonly session: SyncSession
  readonly links: Map<string, MemoryTransport>
  readonly errors: WeftError[]
}

/** A small network of peers for SyncSession tests. */
export class TestNet {
  readonly network = new MemoryNetwork()
  readonly peers = new Map<string, TestPeer>()

  peer(name: string, options: Partial<SyncSessionOptions> = {}): TestPeer {
    const doc = new Y.Doc()
    const session = new SyncSession({ doc, ...options })
    const p: TestPeer = { name, doc, session, links: new Map(), errors: [] }
    session.on('error', ({ error }) => p.errors.push(error))
    this.peers.set(name, p)
    return p
  }

  /** Connects two peers with a dedicated pair of transports (one per side). */
  connect(
    a: TestPeer,
    b: TestPeer,
    options: { maxMessageSize?: number } = {},
  ): [MemoryTransport, MemoryTransport] {
    const ta = this.network.transport(`${a.name}->${b.name}`, options)
    const tb = this.network.transport(`${b.name}->${a.name}`, options)
    this.network.link(ta, tb)
    a.links.set(b.name, ta)
    b.links.set(a.name, tb)
    a.session.addTransport(ta)
    b.session.addTransport(tb)
    ta.connect()
    tb.connect()
    return [ta, tb]
  }

  flush(): number {
    return this.network.flush()
  }
}

export const text = (p: TestPeer): string => p.doc.getText('t').toString()
