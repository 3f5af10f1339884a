import * as Y from 'yjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SyncSession } from '@weft/core'
import { decodeWorkspaceFrame } from '@weft/core/protocol'
import { runTransportContract } from '@weft/core/testing'
import { WorkspaceBroadcast } from '../../src/workspace/WorkspaceBroadcast.js'

let n = 0
runTransportContract('WorkspaceBroadcast document transport', {
  create: async () => {
    const workspace = `contract-${n++}`
    const tab1 = new WorkspaceBroadcast({ workspace })
    const tab2 = new WorkspaceBroadcast({ workspace })
    return {
      a: tab1.transportFor('doc'),
      b: tab2.transportFor('doc'),
      cleanup: () => {
        tab1.close()
        tab2.close()
      },
    }
  },
})

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
  vi.unstubAllGlobals()
})

describe('WorkspaceBroadcast', () => {
  it('WS-CLIENT-LINK-8 one channel per workspace carries every document; each document syncs among the tabs that have it', async () => {
    const Native = globalThis.BroadcastChannel
    const opened: string[] = []
    vi.stubGlobal(
      'BroadcastChannel',
      class extends Native {
        constructor(name: string) {
          super(name)
          opened.push(name)
        }
      },
    )
    const tab = (docs: string[]) => {
      const link = new WorkspaceBroadcast({ workspace: 'w8' })
      const open = docs.map((d) => {
        const doc = new Y.Doc()
        const session = new SyncSession({ doc })
        const transport = link.transportFor(d)
        session.addTransport(transport)
        return { d, doc, session, transport }
      })
      cleanups.push(() => {
        for (const o of open) o.session.destroy()
        link.close()
      })
      return open
    }
    const [notes1, todo1] = tab(['notes', 'todo'])
    const [notes2] = tab(['notes'])
    const [todo3] = tab(['todo'])
    const joined = (t: typeof notes1, count: number) =>
      new Promise<void>((resolve) => {
        const check = () => t!.transport.peers.size === count && t!.session.synced && resolve()
        t!.session.on('peer-synced', check)
      })
    const ready = Promise.all([joined(notes1, 1), joined(notes2, 1), joined(todo1, 1), joined(todo3, 1)])
    for (const t of [notes1, todo1, notes2, todo3]) t!.transport.connect()
    await ready
    expect(opened).toEqual(['weft-workspace:w8', 'weft-workspace:w8', 'weft-workspace:w8']) // one per tab
    const arrived = (doc: Y.Doc, want: string) =>
      new Promise<void>((resolve) => {
        const check = () => doc.getText('t').toString() === want && resolve()
        doc.on('update', check)
        check()
      })
    notes1!.doc.getText('t').insert(0, 'notes')
    todo3!.doc.getText('t').insert(0, 'todo')
    await Promise.all([arrived(notes2!.doc, 'notes'), arrived(todo1!.doc, 'todo')])
    // The tab without `todo` is no peer of it (nor the tab without `notes` of that): one peer each.
    expect([todo3!.transport.peers.size, notes2!.transport.peers.size]).toEqual([1, 1])
  })

  it('WS-CLIENT-LINK-8 messages travel as DOC frames; a tab leaving one document stays a peer of the others', async () => {
    const tab1 = new WorkspaceBroadcast({ workspace: 'frames', id: 'one' })
    const tab2 = new WorkspaceBroadcast({ workspace: 'frames', id: 'two' })
    cleanups.push(
      () => tab1.close(),
      () => tab2.close(),
    )
    const spy = new BroadcastChannel('weft-workspace:frames')
    cleanups.push(() => spy.close())
    const spied = new Promise<{ doc: string; message: number[] }>((resolve) => {
      spy.onmessage = (ev: MessageEvent<{ t: string; frame?: Uint8Array }>) => {
        if (ev.data.t !== 'msg') return
        const r = decodeWorkspaceFrame(ev.data.frame!)
        if (r.ok && r.frame.kind === 'doc') resolve({ doc: r.frame.doc, message: [...r.frame.message] })
      }
    })
    const a1 = tab1.transportFor('a')
    const b1 = tab1.transportFor('b')
    const a2 = tab2.transportFor('a')
    const b2 = tab2.transportFor('b')
    const both = Promise.all(
      [a1, b1, a2, b2].map((t) => new Promise<void>((r) => t.once('peer-joined', () => r()))),
    )
    for (const t of [a1, b1, a2, b2]) t.connect()
    await both
    const got = new Promise<Uint8Array>((r) => b2.once('message', ({ data }) => r(data)))
    b1.send(Uint8Array.of(4, 2))
    expect([...(await got)]).toEqual([4, 2])
    expect(await spied).toEqual({ doc: 'b', message: [4, 2] })
    const left = new Promise<string>((r) => a2.once('peer-left', ({ reason }) => r(reason)))
    a1.disconnect()
    expect(await left).toBe('tab left')
    expect(b2.peers.size).toBe(1)
    const again = new Promise<Uint8Array>((r) => b1.once('message', ({ data }) => r(data)))
    b2.send(Uint8Array.of(7))
    expect([...(await again)]).toEqual([7])
  })
})
