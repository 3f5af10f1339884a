import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession } from '@weft/core'
import { runTransportContract } from '@weft/core/testing'
import { BroadcastChannelTransport } from '../../src/broadcast/index.js'

let room = 0
runTransportContract('BroadcastChannelTransport', {
  create: async () => {
    const r = `contract-${room++}`
    return { a: new BroadcastChannelTransport({ room: r }), b: new BroadcastChannelTransport({ room: r }) }
  },
})

describe('BroadcastChannelTransport', () => {
  it('PROV-3.1 three tabs of one room sync a document; a tab that leaves is gone for the others', async () => {
    const tabs = [0, 1, 2].map(() => {
      const doc = new Y.Doc()
      const t = new BroadcastChannelTransport({ room: 'tabs-sync' })
      const session = new SyncSession({ doc })
      session.addTransport(t)
      return { doc, t, session }
    })
    const [a, b, c] = tabs as [(typeof tabs)[0], (typeof tabs)[0], (typeof tabs)[0]]
    const allSynced = Promise.all(
      tabs.map(
        (tab) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (tab.session.paths.length === 2 && tab.session.synced) resolve()
            }
            tab.session.on('peer-synced', check)
          }),
      ),
    )
    for (const tab of tabs) tab.t.connect()
    await allSynced
    const arrived = (doc: Y.Doc) =>
      new Promise<void>((resolve) =>
        doc.on('update', () => {
          if (doc.getText('t').toString() === 'hi') resolve()
        }),
      )
    const both = Promise.all([arrived(b.doc), arrived(c.doc)])
    a.doc.getText('t').insert(0, 'hi')
    await both
    expect(b.doc.getText('t').toString()).toBe('hi')
    const left = new Promise<void>((resolve) =>
      b.t.on('peer-left', ({ peer }) => peer === a.t.id && resolve()),
    )
    a.t.disconnect()
    await left
    expect(b.t.peers.has(a.t.id as never)).toBe(false)
    for (const tab of tabs) {
      tab.session.destroy()
      tab.t.destroy()
    }
  })

  it('PROV-3.2 junk posted on the channel is ignored', async () => {
    const t = new BroadcastChannelTransport({ room: 'junk' })
    const other = new BroadcastChannelTransport({ room: 'junk' })
    const got: unknown[] = []
    t.on('message', (m) => got.push(m))
    const joined = Promise.all([
      new Promise((r) => t.on('peer-joined', r)),
      new Promise((r) => other.on('peer-joined', r)),
    ])
    t.connect()
    const raw = new BroadcastChannel('weft:junk')
    raw.postMessage({ t: 'msg', from: 'x', to: null, data: 'not bytes' })
    raw.postMessage(42)
    other.connect()
    await joined
    const real = new Promise((r) => t.on('message', r))
    other.send(Uint8Array.of(7))
    await real
    expect(got.length).toBe(1)
    raw.close()
    t.destroy()
    other.destroy()
  })
})
