import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { docId, type DocId, type PeerId } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { PeerSummary, type PeerSummaryReport } from '../../src/workspace/peerSummary.js'

// Issue #15, security review F4: each malformed 3-byte summary message ended the meeting and the next one started a
// new meeting, which listed the store and decoded every open document again: 21-44 ms of CPU per message.
const W = 'team'
const PEER = 'zz-mallory' as PeerId

/** A store that counts `list()` calls (one per meeting built) and `load()`s of documents. */
class CountingStore extends MemoryDocStore {
  lists = 0
  override list(): Promise<DocId[]> {
    this.lists++
    return super.list()
  }
}

const setup = async () => {
  const store = new CountingStore()
  for (const d of ['a', 'b', 'c']) {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, `document ${d}`.repeat(50))
    await store.append(docId(`${W}/${d}`), Y.encodeStateAsUpdate(doc))
  }
  const summary = new PeerSummary({ workspace: W, store, differing: () => {} })
  summary.loaded('a') // open: its stored state may change, so it is never taken from the store's digest cache
  summary.loaded('b')
  return { store, summary }
}

/** Lets pending promise chains run (a macrotask later). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Meets `PEER` again as the initiating side; resolves with the first report (its first message is built). */
const meet = (summary: PeerSummary): Promise<PeerSummaryReport> =>
  new Promise((resolve) => {
    let done = false
    summary.met(
      PEER,
      true,
      () => {},
      (r) => {
        if (done) return
        done = true
        resolve(r)
      },
    )
  })

describe('peer summary: malformed messages (WS-PEER-8)', () => {
  it('WS-PEER-8: after a malformed message, that peer gets no new meeting (no store listing, no decoding) until it is met again', async () => {
    const { store, summary } = await setup()
    const first = await meet(summary)
    expect(first.documents).toBe(3)
    expect(store.lists).toBe(1)
    const junk = Uint8Array.of(9, 9)
    for (let i = 0; i < 10; i++) {
      summary.received(
        PEER,
        junk,
        () => {},
        () => {},
      )
      await turn() // each handled before the next arrives, as over a network
    }
    // Met again (it joined again): one new meeting. Built after every message above was handled (or ignored).
    const again = await meet(summary)
    expect(again.documents).toBe(3)
    expect(store.lists).toBe(2) // without the rule: one listing (and decoding) per junk message
  })

  it('WS-PEER-8: open documents whose stored state did not change are not decoded again at the next meeting', async () => {
    const { store, summary } = await setup()
    expect((await meet(summary)).decoded).toBe(3) // a and b (open), c (no cached digest yet)
    await summary.flushed()
    expect((await meet(summary)).decoded).toBe(0)
    // A write to an open document: decoded again (only it).
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'more')
    await store.append(docId(`${W}/a`), Y.encodeStateAsUpdate(doc))
    expect((await meet(summary)).decoded).toBe(1)
  })
})
