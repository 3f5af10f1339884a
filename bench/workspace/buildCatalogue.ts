/**
 * The catalogue of the benchmark's workspace, written the way an app writes it (`workspace.create`, then the
 * recorded `size`), offline into a memory store; returns its encoded state. Document 0 is the most recently updated.
 */
import * as Y from 'yjs'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace } from '@weft/providers'
import type { Corpus } from './corpus.js'

export const buildCatalogue = async (workspace: string, corpus: Corpus): Promise<Uint8Array> => {
  const base = Date.parse('2026-12-01T00:00:00Z')
  let clock = base
  const store = new MemoryDocStore()
  const ws = await openWorkspace({ id: workspace, store, connect: false, now: () => clock })
  for (let i = corpus.ids.length - 1; i >= 0; i--) {
    clock += 1000
    const res = ws.create({ id: corpus.ids[i] as string, title: corpus.titles[i] as string })
    if (!res.ok) throw new Error(`create: ${res.message}`)
    const up = ws.update(res.id, { size: (corpus.updates[i] as Uint8Array).byteLength })
    if (!up.ok) throw new Error(`update: ${up.message}`)
  }
  const state = Y.encodeStateAsUpdate(ws.catalogue.doc)
  await ws.destroy()
  await store.close()
  return state
}
