import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import { docId } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'
import { compactCommand, inspectCommand } from '../../src/cli/storeCommands.js'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A size as the CLI prints it (B below 1 KiB, KiB with one decimal below 1 MiB). */
const size = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`)

const sink = () => {
  const chunks: string[] = []
  return { write: (s: string) => void chunks.push(s), text: () => chunks.join('') }
}

/** A relay-style data dir with one document written as 300 small updates, half of them overwrites. */
const seed = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-cli-'))
  dirs.push(dir)
  const store = new SqliteDocStore({ path: join(dir, 'weft.sqlite') })
  const doc = new Y.Doc()
  doc.on('update', (u: Uint8Array) => void store.append(docId('board'), u))
  const m = doc.getMap('shapes')
  for (let i = 0; i < 300; i++) m.set(`s${i % 150}`, { x: i })
  await store.append(docId('notes'), Y.encodeStateAsUpdate(new Y.Doc()))
  await store.close()
  return dir
}

describe('weft inspect / weft compact', () => {
  it('CLI-4.1 inspect reports per document: sizes, stored updates, deleted items, clients, epoch', async () => {
    const dir = await seed()
    const out = sink()
    expect(await inspectCommand([dir, 'board', '--json'], out, sink())).toBe(0)
    const report = JSON.parse(out.text()) as Record<
      string,
      {
        storedUpdates: number
        deletedItems: number
        liveItems: number
        clientIds: number[]
        epoch: string | null
      }
    >
    expect(report.board!.storedUpdates).toBe(300)
    expect(report.board!.liveItems).toBe(150)
    expect(report.board!.deletedItems).toBe(150)
    expect(report.board!.clientIds.length).toBe(1)
    const all = sink()
    expect(await inspectCommand([dir], all, sink())).toBe(0)
    expect(all.text()).toContain('board')
    expect(all.text()).toContain('notes')
    expect(all.text()).toMatch(/150 live, 150 deleted/)
  })

  it('CLI-4.2 compact folds the tail into a snapshot, reports progress, and keeps the content', async () => {
    const dir = await seed()
    const out = sink()
    expect(await compactCommand([dir], out, sink())).toBe(0)
    expect(out.text()).toMatch(/100%/)
    expect(out.text()).toMatch(/compacted 2 of 2 documents/)
    const after = sink()
    await inspectCommand([dir, 'board', '--json'], after, sink())
    const report = JSON.parse(after.text()) as Record<string, { storedUpdates: number; liveItems: number }>
    expect(report.board!.storedUpdates).toBe(0)
    expect(report.board!.liveItems).toBe(150)
  })

  it('CLI-4.3 a missing store or document is a clear error, not a crash', async () => {
    const err = sink()
    await expect(inspectCommand(['/nonexistent/weft'], sink(), err)).rejects.toThrow(/no store at/)
    const dir = await seed()
    expect(await inspectCommand([dir, 'nope'], sink(), err)).toBe(1)
    expect(err.text()).toMatch(/no document "nope"/)
  })

  it('CLI-4.6: compact reports the stored sizes before and after; a document with nothing to fold is already compact', async () => {
    const dir = await seed()
    const storedBytes = async () => {
      const out = sink()
      expect(await inspectCommand([dir, '--json'], out, sink())).toBe(0)
      const report = JSON.parse(out.text()) as Record<string, { storedBytes: number }>
      return Object.values(report).reduce((n, d) => n + d.storedBytes, 0)
    }
    const first = sink()
    expect(await compactCommand([dir], first, sink())).toBe(0)
    const compacted = size(await storedBytes())
    expect(first.text()).toMatch(new RegExp(`compacted 2 of 2 documents: .* -> ${compacted}\n$`))
    // Run again: nothing to fold; the totals are the real sizes, not 0 B.
    const again = sink()
    expect(await compactCommand([dir], again, sink())).toBe(0)
    expect(again.text()).toMatch(
      new RegExp(`compacted 0 of 2 documents \\(2 already compact\\): ${compacted} -> ${compacted}\n$`),
    )
    const one = sink()
    expect(await compactCommand([dir, 'board'], one, sink())).toBe(0)
    expect(one.text()).toMatch(/compacted 0 of 1 documents \(1 already compact\): (\S+ \S+) -> \1\n$/)
    expect(one.text()).not.toMatch(/: 0 B -> 0 B/)
  })

  it('CLI-4.3, CLI-4.6: compact of a missing document: the same error as inspect, exit 1, nothing compacted', async () => {
    const dir = await seed()
    const compactOut = sink()
    const compactErr = sink()
    expect(await compactCommand([dir, 'nosuchdoc'], compactOut, compactErr)).toBe(1)
    expect(compactOut.text()).toBe('')
    const inspectErr = sink()
    expect(await inspectCommand([dir, 'nosuchdoc'], sink(), inspectErr)).toBe(1)
    expect(compactErr.text()).toBe(`weft compact: no document "nosuchdoc" in ${dir}\n`)
    expect(inspectErr.text()).toBe(`weft inspect: no document "nosuchdoc" in ${dir}\n`)
  })

  it('CLI-4.7: inspect reports a document holding every kind of value Yjs stores; --json is valid JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-cli-values-'))
    dirs.push(dir)
    const store = new SqliteDocStore({ path: join(dir, 'weft.sqlite') })
    const doc = new Y.Doc()
    const appends: Promise<number>[] = []
    doc.on('update', (u: Uint8Array) => void appends.push(store.append(docId('values'), u)))
    doc.transact(() => {
      const m = doc.getMap('m')
      m.set('big', 12345678901234567890n)
      m.set('bytes', new Uint8Array(5))
      m.set('nothing', undefined)
      m.set('nested', { a: [1n, new Uint8Array(3), { b: -2n, u: undefined }] })
      m.set('sub', new Y.Doc())
      m.set('inner', new Y.Map())
      doc.getArray('arr').push([{ n: 10n }, null, new Uint8Array(3)])
      doc.getText('t').insert(0, 'abc', { bold: true })
      doc.getText('t').insertEmbed(1, { deep: [[1]] })
      doc.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
    })
    await Promise.all(appends)
    await store.close()

    const out = sink()
    const err = sink()
    expect(await inspectCommand([dir, 'values', '--json'], out, err)).toBe(0)
    expect(err.text()).toBe('')
    const report = JSON.parse(out.text()) as Record<string, { liveItems: number; liveContentBytes: number }>
    expect(report.values!.liveItems).toBeGreaterThan(10)
    expect(report.values!.liveContentBytes).toBeGreaterThan(20) // the BigInt's 20 digits at least
    const all = sink()
    expect(await inspectCommand([dir], all, sink())).toBe(0)
    expect(all.text()).toContain('values')
  })

  it('CLI-4.3: a directory without a store is a missing store, and nothing is created in it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-cli-empty-'))
    dirs.push(dir)
    await expect(inspectCommand([dir], sink(), sink())).rejects.toThrow(/no store at/)
    await expect(compactCommand([dir], sink(), sink())).rejects.toThrow(/no store at/)
    expect(await readdir(dir)).toEqual([])
  })
})

describe('weft inspect --workspaces', () => {
  it('CLI-4.5, WS-STORE-1.2: lists every workspace with its documents, change sequence and stored bytes; one workspace with its documents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-cli-ws-'))
    dirs.push(dir)
    const store = new SqliteDocStore({ path: join(dir, 'weft.sqlite') })
    await store.append(docId('acme/plan'), Uint8Array.of(1, 2, 3))
    await store.append(docId('acme/plan'), Uint8Array.of(4))
    await store.append(docId('acme/old'), Uint8Array.of(5))
    await store.remove(docId('acme/old'))
    await store.append(docId('beta/notes/1'), new Uint8Array(2048))
    await store.append(docId('board'), Uint8Array.of(6))
    await store.close()

    const json = sink()
    expect(await inspectCommand([dir, '--workspaces', '--json'], json, sink())).toBe(0)
    expect(JSON.parse(json.text())).toEqual({
      acme: { documents: 1, seq: 4, bytes: 4 },
      beta: { documents: 1, seq: 1, bytes: 2048 },
    })
    const text = sink()
    expect(await inspectCommand([dir, '--workspaces'], text, sink())).toBe(0)
    expect(text.text().split('\n')).toEqual([
      'workspace  documents  seq   stored',
      'acme               1    4      4 B',
      'beta               1    1  2.0 KiB',
      '',
    ])

    const one = sink()
    expect(await inspectCommand([dir, '--workspaces', 'acme'], one, sink())).toBe(0)
    expect(one.text()).toBe(
      'acme: 1 documents, change sequence 4, 4 B stored\n  2  plan\n  4  old  (removed)\n',
    )
    const oneJson = sink()
    expect(await inspectCommand([dir, '--workspaces', 'acme', '--json'], oneJson, sink())).toBe(0)
    expect(JSON.parse(oneJson.text())).toEqual({
      acme: {
        documents: 1,
        seq: 4,
        bytes: 4,
        docs: { plan: { seq: 2, removed: false }, old: { seq: 4, removed: true } },
      },
    })

    const err = sink()
    expect(await inspectCommand([dir, '--workspaces', 'nobody'], sink(), err)).toBe(1)
    expect(err.text()).toBe(`weft inspect: no workspace "nobody" in ${dir}\n`)
    // The per-document report is unchanged.
    const docs = sink()
    expect(await inspectCommand([dir], docs, sink())).toBe(0)
    expect(docs.text()).toContain('acme/plan')
  })
})
