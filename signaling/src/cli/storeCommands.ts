import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import {
  Compactor,
  inspectDoc,
  isWorkspaceIndexed,
  workspaceDocId,
  docId as toDocId,
  type DocId,
  type DocInspection,
  type CompactionOutcome,
  type DocStore,
  type StoredDoc,
} from '@weft/core'
import { RELAY_DB_FILE } from '../relay/openRelayStore.js'
import {
  isQuarantineId,
  keepAside,
  quarantineId,
  quarantineReport,
  screenStoredDoc,
  type QuarantineEntry,
} from '../relay/quarantine.js'
import { COMPACT_USAGE, INSPECT_USAGE, parseStoreArgs } from './parseStoreArgs.js'

/** `weft inspect` / `weft compact` take a store: a relay data directory (`--data`) or a SQLite file. */
export const openStoreAt = async (path: string): Promise<DocStore> => {
  let file = path
  const info = await stat(path).catch(() => null)
  if (info === null) throw new Error(`no store at ${path}`)
  if (info.isDirectory()) {
    file = join(path, RELAY_DB_FILE)
    // CLI-4.3: a mistyped directory is no store; opening it would create an empty one and report "no documents".
    if ((await stat(file).catch(() => null)) === null)
      throw new Error(`no store at ${path} (no ${RELAY_DB_FILE} in it)`)
  }
  const { SqliteDocStore } = await import('@weft/sqlite-store')
  return new SqliteDocStore({ path: file })
}

const kib = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`

/** What `weft inspect` reports per document: {@link DocInspection} and the quarantined updates (RELAY-9.3). */
export type StoreInspection = DocInspection & { readonly quarantined: readonly QuarantineEntry[] }

/** One human-readable block per document. */
export const formatInspection = (id: string, i: StoreInspection): string =>
  [
    `${id}`,
    `  live content     ${kib(i.liveContentBytes)}`,
    `  encoded (V2)     ${kib(i.encodedBytes)}   (V1 ${kib(i.encodedBytesV1)})`,
    `  stored           ${kib(i.storedBytes)}   (snapshot ${kib(i.snapshotBytes)}, ${i.storedUpdates} updates in the tail)`,
    `  items            ${i.liveItems} live, ${i.deletedItems} deleted`,
    `  clients          ${i.clientIds.length}${i.clientIds.length > 0 ? ` (${i.clientIds.slice(0, 8).join(', ')}${i.clientIds.length > 8 ? ', …' : ''})` : ''}`,
    `  epoch            ${i.epoch ?? '0 (never history-compacted)'}`,
    ...(i.quarantined.length > 0
      ? [
          `  quarantined      ${i.quarantined.length} updates Yjs cannot merge or apply, never served (kept in ${JSON.stringify(quarantineId(id as DocId))})`,
          ...i.quarantined.map((q) => `                   ${kib(q.bytes)}: ${q.reason}`),
        ]
      : []),
  ].join('\n')

/**
 * RELAY-9.3: inspects what the relay would serve of `stored` (its quarantined parts left out) with the stored sizes,
 * and lists what is quarantined: parts of the document that cannot be served and those already kept aside.
 */
const inspectStored = async (store: DocStore, id: DocId, stored: StoredDoc): Promise<StoreInspection> => {
  const screened = screenStoredDoc(stored)
  const servable: StoredDoc =
    screened.quarantined.length === 0 ? stored : { ...stored, snapshot: null, updates: screened.parts }
  return {
    ...inspectDoc(servable),
    storedBytes: stored.byteLength,
    snapshotBytes: stored.snapshot?.byteLength ?? 0,
    storedUpdates: stored.updates.length,
    quarantined: await quarantineReport(store, id, screened),
  }
}

interface Out {
  write(s: string): void
}

/** A usage error: the reason and the usage on stderr, exit code 1 (CLI-4.4). */
const usageError = (err: Out, command: string, reason: string, usage: string): number => {
  err.write(`weft ${command}: ${reason}\n\n${usage}`)
  return 1
}

/** CLI-4.3: the document asked for is not in the store: the message on stderr, exit code 1. */
const noDocument = (err: Out, command: string, id: DocId, path: string): number => {
  err.write(`weft ${command}: no document ${JSON.stringify(id)} in ${path}\n`)
  return 1
}

/** `weft inspect <store> [doc] [--json]`. Resolves with the exit code. */
export const inspectCommand = async (args: readonly string[], out: Out, err: Out): Promise<number> => {
  const parsed = parseStoreArgs(args, { json: true })
  if (!parsed.ok) return usageError(err, 'inspect', parsed.reason, INSPECT_USAGE)
  if (parsed.help) {
    out.write(INSPECT_USAGE)
    return 0
  }
  const { path, doc, json } = parsed
  const store = await openStoreAt(path)
  if (parsed.workspaces) {
    try {
      return await inspectWorkspaces(store, path, doc, json, out, err)
    } finally {
      await store.close()
    }
  }
  try {
    // A quarantine is reported with its document (RELAY-9.3).
    const ids =
      doc !== undefined ? [toDocId(doc)] : (await store.list()).filter((id) => !isQuarantineId(id)).sort()
    const report: Record<string, StoreInspection> = {}
    let failed = 0
    for (const id of ids) {
      const stored = await store.load(id)
      if (!stored) return noDocument(err, 'inspect', id, path)
      let i: StoreInspection
      try {
        i = await inspectStored(store, id, stored)
      } catch (e) {
        // One document that cannot be decoded does not end the report.
        failed++
        err.write(`weft inspect: ${id}: ${e instanceof Error ? e.message : String(e)}\n`)
        continue
      }
      report[id] = i
      if (!json) out.write(`${formatInspection(id, i)}\n`)
    }
    if (json) out.write(`${JSON.stringify(report, null, 2)}\n`)
    else if (ids.length === 0) out.write(`no documents in ${path}\n`)
    return failed > 0 ? 1 : 0
  } finally {
    await store.close()
  }
}

/** What `weft inspect --workspaces <workspace> --json` reports per document of the workspace. */
export interface WorkspaceDocReport {
  /** The workspace change sequence of the document's last append, compaction or removal. */
  readonly seq: number
  /** The document was removed (a tombstone, WS-STORE-4.1). */
  readonly removed: boolean
}

const pad = (cells: readonly string[], widths: readonly number[]): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')

/**
 * `weft inspect <store> --workspaces [workspace] [--json]` (issue 15, WS-STORE-1.2): every workspace with its
 * document count, change sequence and stored bytes; or one workspace's documents with the seq of their last change.
 */
const inspectWorkspaces = async (
  store: DocStore,
  path: string,
  workspace: string | undefined,
  json: boolean,
  out: Out,
  err: Out,
): Promise<number> => {
  if (!isWorkspaceIndexed(store)) {
    err.write(`weft inspect: the store at ${path} keeps no workspace index\n`)
    return 1
  }
  const summaries = await store.workspaces()
  if (workspace === undefined) {
    if (json) {
      const report = Object.fromEntries(summaries.map(({ id, ...rest }) => [id, rest]))
      out.write(`${JSON.stringify(report, null, 2)}\n`)
    } else if (summaries.length === 0) out.write(`no workspaces in ${path}\n`)
    else {
      const rows = [
        ['workspace', 'documents', 'seq', 'stored'],
        ...summaries.map((w) => [w.id, String(w.documents), String(w.seq), kib(w.bytes)]),
      ]
      const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)))
      for (const row of rows) out.write(`${pad(row, widths)}\n`)
    }
    return 0
  }
  const summary = summaries.find((w) => w.id === workspace)
  if (!summary) {
    err.write(`weft inspect: no workspace ${JSON.stringify(workspace)} in ${path}\n`)
    return 1
  }
  const stored = new Set<string>(await store.list())
  const docs: Record<string, WorkspaceDocReport> = {}
  for (let cursor = 0, more = true; more;) {
    const page = await store.changesSince(workspace, cursor, 1000)
    for (const c of page.changes)
      docs[c.doc] = { seq: c.seq, removed: !stored.has(workspaceDocId(workspace, c.doc)) }
    cursor = page.through
    more = page.more
  }
  if (json) {
    const { id, ...rest } = summary
    out.write(`${JSON.stringify({ [id]: { ...rest, docs } }, null, 2)}\n`)
    return 0
  }
  out.write(
    `${summary.id}: ${summary.documents} documents, change sequence ${summary.seq}, ${kib(summary.bytes)} stored\n`,
  )
  for (const [doc, d] of Object.entries(docs))
    out.write(
      `  ${String(d.seq).padStart(String(summary.seq).length)}  ${doc}${d.removed ? '  (removed)' : ''}\n`,
    )
  return 0
}

/** A one-line progress bar, redrawn in place on a terminal and printed every 10% otherwise. */
const progress = (out: Out, tty: boolean) => {
  let lastShown = -1
  return (done: number, total: number, label: string) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100)
    if (!tty && Math.floor(pct / 10) === Math.floor(lastShown / 10) && done !== total) return
    lastShown = pct
    const width = 30
    const filled = Math.round((pct / 100) * width)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${total} ${label}`
    out.write(tty ? `\r${bar}` : `${bar}\n`)
  }
}

/**
 * Compacts one document; one holding parts Yjs cannot merge or apply (RELAY-9.3) has them kept aside first and is
 * compacted from the rest. `storedBytes` is the document's size before (`null`: no such document).
 */
const compactWithQuarantine = async (
  store: DocStore,
  compactor: Compactor,
  id: DocId,
): Promise<{ readonly storedBytes: number | null; readonly outcome: CompactionOutcome }> => {
  const stored = await store.load(id)
  if (!stored) return { storedBytes: null, outcome: { ok: false, reason: 'empty' } }
  const screened = screenStoredDoc(stored)
  if (screened.quarantined.length === 0)
    return { storedBytes: stored.byteLength, outcome: await compactor.compact(store, id) }
  await keepAside(store, id, screened.quarantined)
  const doc = new Y.Doc()
  try {
    for (const part of screened.parts) Y.applyUpdate(doc, part)
    const tail = { count: Math.max(1, stored.updates.length), bytes: stored.byteLength }
    return {
      storedBytes: stored.byteLength,
      outcome: await compactor.compactFrom(store, id, doc, stored.clock, tail),
    }
  } finally {
    doc.destroy()
  }
}

/**
 * `weft compact <store> [doc]`: log compaction of every document (or one), with a progress bar. Stop the server
 * first or run it alongside: the store's compaction is atomic and keeps appends made meanwhile.
 */
export const compactCommand = async (
  args: readonly string[],
  out: Out & { isTTY?: boolean },
  err: Out,
): Promise<number> => {
  const parsed = parseStoreArgs(args, { json: false })
  if (!parsed.ok) return usageError(err, 'compact', parsed.reason, COMPACT_USAGE)
  if (parsed.help) {
    out.write(COMPACT_USAGE)
    return 0
  }
  const { path, doc } = parsed
  const store = await openStoreAt(path)
  try {
    const ids =
      doc !== undefined ? [toDocId(doc)] : (await store.list()).filter((id) => !isQuarantineId(id)).sort()
    // CLI-4.3: as `weft inspect`, a document that is not there is an error, before any progress is shown.
    if (doc !== undefined && !(await store.load(toDocId(doc))))
      return noDocument(err, 'compact', toDocId(doc), path)
    const compactor = new Compactor()
    const bar = progress(out, out.isTTY === true)
    // CLI-4.6: the totals are the stored sizes before and after; a document with nothing to fold counts its size
    // on both sides, as already compact.
    let before = 0
    let after = 0
    let compacted = 0
    let alreadyCompact = 0
    let failed = 0
    for (const [n, id] of ids.entries()) {
      bar(n, ids.length, id)
      let result: Awaited<ReturnType<typeof compactWithQuarantine>>
      try {
        result = await compactWithQuarantine(store, compactor, id)
      } catch (e) {
        failed++
        err.write(`\nweft compact: ${id}: ${e instanceof Error ? e.message : String(e)}\n`)
        continue
      }
      const { storedBytes, outcome } = result
      if (storedBytes === null) continue // removed since it was listed
      if (outcome.ok) {
        compacted++
        before += outcome.bytesBefore
        after += outcome.snapshotBytes
      } else if (outcome.reason === 'empty') {
        alreadyCompact++
        before += storedBytes
        after += storedBytes
      } else {
        failed++
        err.write(`\nweft compact: ${id}: ${outcome.reason}\n`)
      }
    }
    bar(ids.length, ids.length, 'done')
    if (out.isTTY) out.write('\n')
    out.write(
      `compacted ${compacted} of ${ids.length} documents${alreadyCompact > 0 ? ` (${alreadyCompact} already compact)` : ''}: ${kib(before)} -> ${kib(after)}\n`,
    )
    return failed > 0 ? 1 : 0
  } finally {
    await store.close()
  }
}
