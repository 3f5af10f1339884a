import { describe, expect, it } from 'vitest'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace } from '@weft/providers'
import { demoSchemaV1 } from '../src/board/boardSchema.js'
import { createLargeWorkspace, type LargeWorkspaceProgress } from '../src/largeWorkspace.js'
import { openTyped } from '../src/schemaApi.js'

describe('demo: Large workspace (issue 15 item 7)', () => {
  it('WS-CLIENT-1.2, 3.2: creates the documents in batches with progress, each listed and written, none left loaded', async () => {
    const store = new MemoryDocStore()
    const workspace = await openWorkspace({ id: 'demo', store, connect: false })
    const progress: LargeWorkspaceProgress[] = []
    const ids = await createLargeWorkspace(workspace, {
      count: 60,
      batch: 25,
      onProgress: (p) => progress.push(p),
    })
    expect(progress).toEqual([
      { done: 25, total: 60 },
      { done: 50, total: 60 },
      { done: 60, total: 60 },
    ])
    expect(new Set(ids).size).toBe(60)
    expect(workspace.list.entries.map((e) => e.id).sort()).toEqual([...ids].sort())
    expect(workspace.loaded).toEqual([]) // every document was closed: no Y.Doc left
    const last = ids[59] ?? ''
    expect(workspace.list.get(last)?.title).toMatch(/^Note 60 \(\w+\)$/)
    // Opened lazily later, a document holds what was written, in the demo's schema.
    const doc = await workspace.open(last)
    const typed = openTyped(doc.doc, demoSchemaV1)
    expect(typed.root.body.toString()).toBe(
      `${workspace.list.get(last)?.title}: one of 60 small documents.\n`,
    )
    expect(typed.root.meta.get('title')).toBe(workspace.list.get(last)?.title)
    typed.destroy()
    await workspace.close(last)
    await workspace.destroy()
  })

  it('stops after the current batch when aborted', async () => {
    const workspace = await openWorkspace({ id: 'demo', store: new MemoryDocStore(), connect: false })
    const stop = new AbortController()
    const ids = await createLargeWorkspace(workspace, {
      count: 100,
      batch: 10,
      signal: stop.signal,
      onProgress: ({ done }) => {
        if (done === 20) stop.abort()
      },
    })
    expect(ids).toHaveLength(20)
    expect(workspace.list.entries).toHaveLength(20)
    await workspace.destroy()
  })
})
