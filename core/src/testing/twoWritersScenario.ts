import * as Y from 'yjs'
import { storedPendingCount } from '../doc/pendingMeta.js'
import { openDocument } from '../doc/openDocument.js'
import { applyStoredDoc } from '../storage/applyStoredDoc.js'
import type { DocStore } from '../storage/DocStore.js'
import { OwnClients } from '../storage/OwnClients.js'
import { MemoryNetwork } from '../transport/MemoryTransport.js'
import { D, localValues, openRelay, settle, type PendingCrashHarness } from './pendingCrashScenario.js'

/**
 * The two-writer scenario of STORE-9.7 and RULES-5.14 (docs/spec/storage.md, rules.md) over one medium: writers A
 * and B open the document on two stores of it (`harness.another`), B is offline and stores one change, A stores five
 * that the relay acknowledges; both then stop (a crash: nothing more of them is read). A third store of the medium
 * must count B's change as pending and record both client ids; a handle opened on it pushes B's change, after which
 * the stored count is 0. Returns every broken rule, described (empty: the rules hold). Free of any test framework.
 */
export const checkTwoWriters = async (harness: PendingCrashHarness): Promise<string[]> => {
  const failures: string[] = []
  const first = await harness.create()
  const stores: DocStore[] = [first]
  const another = async () => {
    const store = harness.another ? await harness.another(first) : first
    if (!stores.includes(store)) stores.push(store)
    return store
  }
  const net = new MemoryNetwork()
  const relay = await openRelay(net)
  const a = await openDocument({ docId: D, store: first })
  const b = await openDocument({ docId: D, store: await another() })
  const toRelay = net.transport('a')
  net.link(toRelay, relay.transport)
  a.addTransport(toRelay, { relay: true })
  b.addTransport(net.transport('b'), { relay: true }) // never linked: B is offline
  toRelay.connect()
  await settle(net, [a, relay.handle])
  b.doc.getArray<string>('a').push(['only-in-b'])
  await b.flushed()
  for (let i = 0; i < 5; i++) a.doc.getArray<string>('a').push([`a-${i}`])
  await settle(net, [a, relay.handle])
  if (a.pendingChanges !== 0) failures.push(`A still has ${a.pendingChanges} pending changes`)

  // Both writers stop here. What the medium holds:
  const third = await another()
  const stored = await third.load(D)
  const pending = storedPendingCount(stored?.meta ?? {})
  if (pending < 1) failures.push(`the stored count is ${pending}: B's stored change is not counted`)
  const storedDoc = new Y.Doc()
  if (stored) applyStoredDoc(storedDoc, stored, 'load')
  const own = new OwnClients()
  own.load(stored?.meta ?? {}, storedDoc)
  for (const [name, h] of [
    ['A', a],
    ['B', b],
  ] as const)
    if (!own.has(h.doc.clientID)) failures.push(`${name}'s client id is not recorded`)

  // A later session pushes B's change; then nothing is pending, in memory or in the store.
  const c = await openDocument({ docId: D, store: third })
  if (c.pendingChanges < 1) failures.push(`the reopened handle counts ${c.pendingChanges} pending changes`)
  const later = net.transport('c')
  net.link(later, relay.transport)
  c.addTransport(later, { relay: true })
  later.connect()
  await settle(net, [c, relay.handle])
  if (!localValues(relay.store.durable).has('only-in-b')) failures.push('the relay never got B’s change')
  if (c.pendingChanges !== 0) failures.push(`${c.pendingChanges} changes still pending after the push`)
  const after = storedPendingCount((await third.load(D))?.meta ?? {})
  if (after !== 0) failures.push(`the stored count is ${after} after the push`)
  for (const h of [c, b, a]) await h.destroy()
  await relay.handle.destroy()
  for (const store of stores) await store.close()
  return failures
}
