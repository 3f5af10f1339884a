import { describe, expect, it } from 'vitest'
import {
  CATALOGUE_DOC,
  isWorkspaceDocId,
  isWorkspaceId,
  isWorkspaceIndexed,
  splitWorkspaceDoc,
  workspaceDocId,
  workspaceOf,
} from '../../src/index.js'
import { changesPage, indexedWorkspaceDoc, pageSize, workspaceChangesOf } from '../../src/storage/storeKit.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'
import { CrashingDocStore } from '../../src/testing/CrashingDocStore.js'

describe('the W/D naming rule', () => {
  it('WS-STORE-1.1: W is the part before the first `/`, D the rest', () => {
    expect(workspaceOf('acme/notes/1')).toBe('acme')
    expect(workspaceOf('plain')).toBeNull()
    expect(workspaceOf('/x')).toBeNull()
    expect(splitWorkspaceDoc('acme/notes/1')).toEqual({ workspace: 'acme', doc: 'notes/1' })
    expect(splitWorkspaceDoc(`acme/${CATALOGUE_DOC}`)).toEqual({ workspace: 'acme', doc: '.catalogue' })
    for (const id of ['plain', '/x', 'acme/', '']) expect(splitWorkspaceDoc(id)).toBeNull()
    expect(workspaceDocId('acme', 'notes/1')).toBe('acme/notes/1')
    // A store's own companions of a document are not indexed.
    expect(indexedWorkspaceDoc('acme/a~epoch~e1')).toBeNull()
    expect(indexedWorkspaceDoc('acme/a~quarantine~')).toBeNull()
    expect(indexedWorkspaceDoc('acme/.catalogue')).toEqual({ workspace: 'acme', doc: '.catalogue' })
  })

  it('WS-STORE-1.1: valid workspace and document ids', () => {
    expect(isWorkspaceId('acme')).toBe(true)
    expect(isWorkspaceId('é'.repeat(64))).toBe(true) // 128 bytes
    expect(isWorkspaceId('é'.repeat(65))).toBe(false)
    for (const bad of ['', 'a/b']) expect(isWorkspaceId(bad)).toBe(false)
    expect(isWorkspaceDocId('notes/1')).toBe(true)
    expect(isWorkspaceDocId('x'.repeat(256))).toBe(true)
    for (const bad of ['', '.catalogue', 'a~b', 'x'.repeat(257)]) expect(isWorkspaceDocId(bad)).toBe(false)
  })

  it('WS-STORE-2.3: one transaction: documents grouped by workspace, each once, in order of first change', () => {
    const grouped = workspaceChangesOf(['acme/b', 'plain', 'beta/x', 'acme/a', 'acme/b', 'acme/a~epoch~1'])
    expect([...grouped]).toEqual([
      ['acme', ['b', 'a']],
      ['beta', ['x']],
    ])
  })

  it('WS-STORE-3.1, WS-STORE-3.2: a page from the rows read (limit + 1) and the sequence', () => {
    const rows = [1, 2, 3].map((seq) => ({ doc: `d${seq}`, seq }))
    expect(changesPage(rows, 2, 9)).toEqual({ changes: rows.slice(0, 2), through: 2, more: true })
    expect(changesPage(rows, 3, 9)).toEqual({ changes: rows, through: 9, more: false })
    expect(changesPage([], 3, 4)).toEqual({ changes: [], through: 4, more: false })
    // Any limit gives a usable page size (IndexedDB's getAll takes at most 2^32 - 1).
    expect([0, -3, 2.7, NaN, Infinity].map(pageSize)).toEqual([1, 1, 2, 1, 2 ** 31 - 2])
  })

  it('isWorkspaceIndexed tells stores that keep the index from those that do not', () => {
    const memory = new MemoryDocStore()
    expect(isWorkspaceIndexed(memory)).toBe(true)
    expect(isWorkspaceIndexed(new CrashingDocStore(memory, { crashAfter: Infinity }))).toBe(false)
  })
})
