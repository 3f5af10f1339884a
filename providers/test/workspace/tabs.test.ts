import { describe, expect, it } from 'vitest'
import { MemoryDocStore } from '@weft/core/testing'
import { WorkspaceBroadcast, openWorkspace, type Workspace } from '../../src/index.js'

/** Resolves once `check()` holds, checked after each list change of `ws`. */
const until = (ws: Workspace, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      ws.list.off('change', test)
      resolve()
    }
    ws.list.on('change', test)
    test()
  })

describe('workspace transport sources', () => {
  it('WS-CLIENT-3.3: transports given as sources (one WorkspaceBroadcast per tab) carry the catalogue and every document', async () => {
    const prefix = `weft-test-${Math.random()}:`
    const tab = () =>
      openWorkspace({
        id: 'tabs',
        store: new MemoryDocStore(),
        transports: [new WorkspaceBroadcast({ workspace: 'tabs', prefix })],
      })
    const a = await tab()
    const b = await tab()
    a.create({ title: 'shared', id: 'd' })
    await until(b, () => b.list.get('d') !== undefined)
    const doc = await a.open('d')
    doc.doc.getText('t').insert(0, 'across tabs')
    const copy = await b.open('d')
    await copy.whenSynced
    await new Promise<void>((resolve) => {
      const text = copy.doc.getText('t')
      const check = () => {
        if (text.toString() !== 'across tabs') return
        text.unobserve(check)
        resolve()
      }
      text.observe(check)
      check()
    })
    expect(copy.doc.getText('t').toString()).toBe('across tabs')
    await a.destroy()
    await b.destroy()
  })
})
