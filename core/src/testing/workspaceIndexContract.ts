import { expect, it } from './vitestApi.js'
import { docId } from '../ids.js'
import type { DocStore } from '../storage/DocStore.js'
import {
  isWorkspaceIndexed,
  type WorkspaceChange,
  type WorkspaceIndex,
  type WorkspaceSummary,
} from '../storage/WorkspaceIndex.js'
import { purgeWorkspaceDoc } from '../storage/workspacePurge.js'
import { randomPick, seededRandom } from './seededRandom.js'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

/** The store under test, as a workspace-indexed one (fails the test when it is not). */
const indexed = (store: DocStore): DocStore & WorkspaceIndex => {
  expect(isWorkspaceIndexed(store)).toBe(true)
  return store as DocStore & WorkspaceIndex
}

/** Every change of `workspace` (all pages, page size 1000). */
const allChanges = async (
  store: WorkspaceIndex,
  workspace: string,
  cursor = 0,
): Promise<WorkspaceChange[]> => {
  const out: WorkspaceChange[] = []
  for (;;) {
    const page = await store.changesSince(workspace, cursor, 1000)
    out.push(...page.changes)
    cursor = page.through
    if (!page.more) return out
  }
}

/**
 * The `WS-STORE-*` rules (docs/spec/storage.md), registered by {@link runDocStoreContract} inside its `describe` for
 * a store that keeps the workspace index. `current()` is the store of the running test; `reopen` (optional) closes it
 * and opens the same medium again, returning the new store, which the caller makes current.
 */
export const workspaceIndexContract = (current: () => DocStore, reopen?: () => Promise<DocStore>): void => {
  const WA = docId('acme/a')
  const WB = docId('acme/b')
  const NESTED = docId('acme/notes/2026/x')
  const OTHER = docId('acme2/a')
  const PLAIN = docId('plain-doc')

  it('WS-STORE-1.1, WS-STORE-2.1: appends of W/D advance W by one each, and D records its seq', async () => {
    const store = indexed(current())
    expect(await store.workspaceSeq('acme')).toBe(0)
    expect(await store.changesSince('acme', 0, 10)).toEqual({ changes: [], through: 0, more: false })
    await store.append(WA, bytes(1))
    expect(await store.workspaceSeq('acme')).toBe(1)
    await store.append(WB, bytes(2))
    const c = await store.append(WA, bytes(3))
    expect(await store.workspaceSeq('acme')).toBe(3)
    await store.append(WB, bytes(9))
    expect(await store.workspaceSeq('acme')).toBe(4)
    await store.append(NESTED, bytes(4))
    // Other workspaces (also one whose id starts with this one's) and ids without `/` are apart.
    await store.append(OTHER, bytes(5))
    await store.append(PLAIN, bytes(6))
    // A store's own companions of a document (epoch archives, quarantine: `~` in the document part) are not indexed.
    await store.append(docId('acme/a~epoch~e1'), bytes(7))
    await store.append(docId('acme/a~quarantine~'), bytes(8))
    expect(await store.workspaceSeq('acme')).toBe(5)
    expect(await store.workspaceSeq('acme2')).toBe(1)
    expect(await store.workspaceSeq('plain-doc')).toBe(0)
    expect(await allChanges(store, 'acme')).toEqual([
      { doc: 'a', seq: 3 },
      { doc: 'b', seq: 4 },
      { doc: 'notes/2026/x', seq: 5 },
    ])
    expect(await allChanges(store, 'acme2')).toEqual([{ doc: 'a', seq: 1 }])
    // An epoch switch is a change (clients must learn the new epoch).
    expect(await store.compact(WA, bytes(10), c, { meta: { epoch: 'e1' } })).toEqual({ ok: true })
    expect(await allChanges(store, 'acme', 5)).toEqual([{ doc: 'a', seq: 6 }])
  })

  it('WS-STORE-2.1: a log compaction changes no content and advances nothing; an epoch switch, or a compaction that creates the document, does', async () => {
    const store = indexed(current())
    await store.append(WA, bytes(1))
    const c = await store.append(WA, bytes(2))
    expect(await store.workspaceSeq('acme')).toBe(2)
    // Log compactions, also one that keeps the epoch (its meta sets the stored epoch again) or sets other meta.
    expect(await store.compact(WA, bytes(9), c - 1)).toEqual({ ok: true })
    expect(await store.compact(WA, bytes(9), c, { meta: { epoch: '0', k: 'v' } })).toEqual({ ok: true })
    expect(await store.workspaceSeq('acme')).toBe(2)
    expect(await allChanges(store, 'acme')).toEqual([{ doc: 'a', seq: 2 }])
    expect((await store.load(WA))?.snapshot).toEqual(bytes(9))
    // An epoch switch, checked or not.
    expect(await store.compact(WA, bytes(10), c, { epoch: '0', meta: { epoch: 'e1' } })).toEqual({ ok: true })
    expect(await store.workspaceSeq('acme')).toBe(3)
    expect(await store.compact(WA, bytes(11), c, { meta: { epoch: 'e1' } })).toEqual({ ok: true })
    expect(await store.compact(WA, bytes(12), c, { meta: { epoch: 'e2' } })).toEqual({ ok: true })
    expect(await store.workspaceSeq('acme')).toBe(4)
    expect(await allChanges(store, 'acme', 2)).toEqual([{ doc: 'a', seq: 4 }])
    // A compaction that gives a document its first content is a change (it is indexed from then on).
    expect(await store.compact(WB, bytes(5), 0)).toEqual({ ok: true })
    expect(await store.workspaceSeq('acme')).toBe(5)
    expect(await store.workspaces()).toEqual([{ id: 'acme', documents: 2, seq: 5, bytes: 2 }])
  })

  it('WS-STORE-2.2: metadata, refused appends, stale compactions, loads and unknown removals advance nothing', async () => {
    const store = indexed(current())
    await store.setMeta(WA, 'k', 'v')
    expect(await store.workspaceSeq('acme')).toBe(0)
    const c = await store.append(WA, bytes(1))
    await store.setMeta(WA, 'k', 'w')
    await store.load(WA)
    await store.list()
    await expect(store.append(WA, bytes(2), { epoch: 'e9' })).rejects.toThrow()
    expect(await store.compact(WA, bytes(3), c + 1)).toEqual({ ok: false, reason: 'stale' })
    expect(await store.compact(WA, bytes(3), c, { epoch: 'e9' })).toEqual({ ok: false, reason: 'stale' })
    await store.remove(WB)
    // A document with metadata only was never indexed: removing it is no change either.
    await store.setMeta(OTHER, 'k', 'v')
    await store.remove(OTHER)
    expect(await store.workspaceSeq('acme')).toBe(1)
    expect(await store.workspaceSeq('acme2')).toBe(0)
    expect(await allChanges(store, 'acme')).toEqual([{ doc: 'a', seq: 1 }])
  })

  it('WS-STORE-2.3: appends of one group commit get one seq per document, without gaps, in order of first append', async () => {
    const store = indexed(current())
    const ids = Array.from({ length: 20 }, (_, i) => docId(`acme/d${i}`))
    // Not awaited one by one: a store may commit them together.
    await Promise.all(ids.flatMap((id, i) => [store.append(id, bytes(i)), store.append(id, bytes(i, 1))]))
    const seq = await store.workspaceSeq('acme')
    const changes = await allChanges(store, 'acme')
    expect(changes.map((c) => c.doc).sort()).toEqual(ids.map((id) => id.slice('acme/'.length)).sort())
    // Every document once, seqs strictly increasing and distinct; the last is the workspace's sequence.
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.seq).toBeGreaterThan(changes[i - 1]!.seq)
    expect(changes.at(-1)?.seq).toBe(seq)
    // At least one seq per document, at most one per append; first appended, first numbered.
    expect(seq).toBeGreaterThanOrEqual(ids.length)
    expect(seq).toBeLessThanOrEqual(2 * ids.length)
    expect(changes.map((c) => c.doc)).toEqual(ids.map((id) => id.slice('acme/'.length)))
  })

  it('WS-STORE-3.1, WS-STORE-3.2: changesSince pages through the last change of each document, in seq order', async () => {
    const store = indexed(current())
    for (let i = 0; i < 7; i++) await store.append(docId(`acme/p${i}`), bytes(i))
    await store.append(docId('acme/p1'), bytes(9)) // p1 moves to seq 8
    const first = await store.changesSince('acme', 0, 3)
    expect(first).toEqual({
      changes: [
        { doc: 'p0', seq: 1 },
        { doc: 'p2', seq: 3 },
        { doc: 'p3', seq: 4 },
      ],
      through: 4,
      more: true,
    })
    const second = await store.changesSince('acme', first.through, 3)
    expect(second).toEqual({
      changes: [
        { doc: 'p4', seq: 5 },
        { doc: 'p5', seq: 6 },
        { doc: 'p6', seq: 7 },
      ],
      through: 7,
      more: true,
    })
    expect(await store.changesSince('acme', second.through, 3)).toEqual({
      changes: [{ doc: 'p1', seq: 8 }],
      through: 8,
      more: false,
    })
    // Exactly a full page: no more page follows.
    expect(await store.changesSince('acme', 5, 3)).toEqual({
      changes: [
        { doc: 'p5', seq: 6 },
        { doc: 'p6', seq: 7 },
        { doc: 'p1', seq: 8 },
      ],
      through: 8,
      more: false,
    })
    // Nothing new: through is the cursor; a limit below 1 still returns a page of one.
    expect(await store.changesSince('acme', 8, 3)).toEqual({ changes: [], through: 8, more: false })
    expect((await store.changesSince('acme', 0, 0)).changes).toEqual([{ doc: 'p0', seq: 1 }])
    expect((await store.changesSince('acme', 0, Infinity)).changes).toHaveLength(7)
    // A cursor from the future (another store, another workspace): through is the real sequence, below it.
    expect(await store.changesSince('acme', 50, 3)).toEqual({ changes: [], through: 8, more: false })
    expect(await store.changesSince('nobody', 3, 3)).toEqual({ changes: [], through: 0, more: false })
  })

  it('WS-STORE-4.1: a removal advances the sequence and leaves a tombstone that changesSince reports', async () => {
    const store = indexed(current())
    const c = await store.append(WA, bytes(1))
    await store.compact(WA, bytes(5), c)
    await store.append(WB, bytes(2))
    await store.setMeta(WA, 'k', 'v')
    await store.remove(WA)
    expect(await store.workspaceSeq('acme')).toBe(3)
    expect(await store.changesSince('acme', 2, 10)).toEqual({
      changes: [{ doc: 'a', seq: 3 }],
      through: 3,
      more: false,
    })
    expect(await store.load(WA)).toBeNull()
    expect(await store.list()).toEqual([WB])
    expect(await store.workspaces()).toEqual([{ id: 'acme', documents: 1, seq: 3, bytes: 1 }])
    // Removing it again changes nothing; writing it again makes it a live document with a new seq.
    await store.remove(WA)
    expect(await store.workspaceSeq('acme')).toBe(3)
    await store.append(WA, bytes(7, 7))
    expect(await allChanges(store, 'acme')).toEqual([
      { doc: 'b', seq: 2 },
      { doc: 'a', seq: 4 },
    ])
    expect((await store.workspaces())[0]).toEqual({ id: 'acme', documents: 2, seq: 4, bytes: 3 })
  })

  it('WS-STORE-1.2: workspaces lists every workspace with its documents, sequence and stored bytes', async () => {
    const store = indexed(current())
    expect(await store.workspaces()).toEqual([])
    await store.append(OTHER, bytes(1, 2, 3))
    const c = await store.append(WA, bytes(1))
    await store.append(WA, bytes(2, 2))
    await store.compact(WA, bytes(9, 9, 9, 9), c)
    await store.append(NESTED, bytes(4))
    await store.append(PLAIN, bytes(5, 5, 5, 5, 5))
    await store.setMeta(docId('meta/only'), 'k', 'v')
    const loaded = await Promise.all([WA, NESTED].map((id) => store.load(id)))
    const summaries = await store.workspaces()
    expect(summaries).toEqual([
      { id: 'acme', documents: 2, seq: 3, bytes: loaded.reduce((n, d) => n + (d?.byteLength ?? 0), 0) },
      { id: 'acme2', documents: 1, seq: 1, bytes: 3 },
    ])
    expect(summaries[0]?.bytes).toBe(7)
  })

  it('WS-STORE-2.1, WS-STORE-2.2, WS-STORE-4.1: a seeded run of appends, compactions, metadata and removals keeps the index equal to a model', async () => {
    const store = indexed(current())
    const rand = seededRandom(15)
    const ids = ['acme/a', 'acme/b', 'acme/c/d', 'beta/a', 'plain', 'acme/a~epoch~1'].map((id) => docId(id))
    // The model: per workspace its sequence, per document its last seq and whether it is removed.
    const seqs = new Map<string, number>()
    const last = new Map<string, { seq: number; removed: boolean }>()
    const sizes = new Map<string, number>()
    const change = (id: string, removed: boolean): void => {
      const slash = id.indexOf('/')
      if (slash < 0 || id.includes('~')) return
      const w = id.slice(0, slash)
      const seq = (seqs.get(w) ?? 0) + 1
      seqs.set(w, seq)
      last.set(id, { seq, removed })
    }
    for (let step = 0; step < 120; step++) {
      const id = randomPick(rand, ids)
      const op = randomPick(rand, ['append', 'append', 'compact', 'meta', 'remove'] as const)
      if (op === 'append') {
        await store.append(id, bytes(step & 0xff, 1))
        sizes.set(id, (sizes.get(id) ?? 0) + 2)
        change(id, false)
      } else if (op === 'compact') {
        const loaded = await store.load(id)
        expect(await store.compact(id, bytes(9), loaded?.clock ?? 0)).toEqual({ ok: true })
        // A log compaction is no change, unless it gives the document its first content (WS-STORE-2.1).
        if (!loaded || (loaded.snapshot === null && loaded.updates.length === 0)) change(id, false)
        sizes.set(id, 1)
      } else if (op === 'meta') {
        await store.setMeta(id, 'k', String(step))
      } else {
        if (last.get(id)?.removed === false) change(id, true)
        await store.remove(id)
        sizes.delete(id)
      }
    }
    const expected: WorkspaceSummary[] = [...seqs.keys()].sort().map((w) => {
      const live = [...last].filter(([id, d]) => id.startsWith(`${w}/`) && !d.removed).map(([id]) => id)
      return {
        id: w,
        documents: live.length,
        seq: seqs.get(w) ?? 0,
        bytes: live.reduce((n, id) => n + (sizes.get(id) ?? 0), 0),
      }
    })
    expect(await store.workspaces()).toEqual(expected)
    for (const w of seqs.keys()) {
      const model = [...last]
        .filter(([id]) => id.startsWith(`${w}/`))
        .map(([id, d]) => ({ doc: id.slice(w.length + 1), seq: d.seq }))
        .sort((a, b) => a.seq - b.seq)
      expect(await allChanges(store, w)).toEqual(model)
    }
  })

  it('WS-PURGE-3: purgeWorkspaceDoc removes W/D and its companions W/D~..., nothing else; the listing, the summary and changesSince show it gone', async () => {
    const store = indexed(current())
    const D = docId('team/d')
    const ARCHIVE = docId('team/d~epoch~1')
    const KEEP = [docId('team/dd'), docId('team/e'), docId('team2/d')]
    await store.append(D, bytes(1, 2, 3))
    await store.setMeta(D, 'title', 'secret plans')
    await store.append(ARCHIVE, bytes(4, 5))
    for (const id of KEEP) await store.append(id, bytes(6))
    const summary = async () => (await store.workspaces()).find((w) => w.id === 'team')
    const before = await summary()
    const seq = await store.workspaceSeq('team')

    expect((await purgeWorkspaceDoc(store, 'team', 'd')).sort()).toEqual([D, ARCHIVE])
    expect((await store.list()).sort()).toEqual([...KEEP].sort())
    expect(await store.load(D)).toBeNull()
    expect(await store.load(ARCHIVE)).toBeNull()
    for (const id of KEEP) expect((await store.load(id))?.updates).toEqual([bytes(6)])
    // The removal is one change of the workspace (WS-STORE); the summary no longer counts the document or its bytes.
    expect(await store.changesSince('team', seq, 10)).toEqual({
      changes: [{ doc: 'd', seq: seq + 1 }],
      through: seq + 1,
      more: false,
    })
    expect(await summary()).toEqual({
      id: 'team',
      documents: (before?.documents ?? 0) - 1,
      seq: seq + 1,
      bytes: (before?.bytes ?? 0) - 3,
    })
    // Nothing left to purge: a second purge removes nothing and changes nothing.
    expect(await purgeWorkspaceDoc(store, 'team', 'd')).toEqual([])
    expect(await store.workspaceSeq('team')).toBe(seq + 1)
    if (reopen) {
      const after = indexed(await reopen())
      expect((await after.list()).sort()).toEqual([...KEEP].sort())
      expect(await after.load(D)).toBeNull()
    }
  })

  if (reopen) {
    it('WS-STORE-5.2: the sequence, the documents’ seqs and the tombstones survive closing and reopening', async () => {
      const before = indexed(current())
      await before.append(WA, bytes(1))
      await before.append(WB, bytes(2))
      await before.remove(WA)
      const after = indexed(await reopen())
      expect(await after.workspaceSeq('acme')).toBe(3)
      expect(await allChanges(after, 'acme')).toEqual([
        { doc: 'b', seq: 2 },
        { doc: 'a', seq: 3 },
      ])
      await after.append(WB, bytes(3))
      expect(await after.workspaceSeq('acme')).toBe(4)
    })
  }
}
