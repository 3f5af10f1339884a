import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Compactor, inspectDoc, docId as toDocId, type DocInspection, type DocStore } from '@weft/core'
import { RELAY_DB_FILE } from '../relay/openRelayStore.js'
import { COMPACT_USAGE, INSPECT_USAGE, parseStoreArgs } from './parseStoreArgs.js'

/** `weft inspect` / `weft compact` take a store: a relay data directory (`--data`) or a SQLite file. */
export const openStoreAt = async (path: string): Promise<DocStore> => {
  let file = path
  const info = await stat(path).catch(() => null)
  if (info === null) throw new Error(`no store at ${path}`)
  if (info.isDirectory()) file = join(path, RELAY_DB_FILE)
  const { SqliteDocStore } = await import('@weft/sqlite-store')
  return new SqliteDocStore({ path: file })
}

const kib = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`

/** One human-readable block per document. */
export const formatInspection = (id: string, i: DocInspection): string =>
  [
    `${id}`,
    `  live content     ${kib(i.liveContentBytes)}`,
    `  encoded (V2)     ${kib(i.encodedBytes)}   (V1 ${kib(i.encodedBytesV1)})`,
    `  stored           ${kib(i.storedBytes)}   (snapshot ${kib(i.snapshotBytes)}, ${i.storedUpdates} updates in the tail)`,
    `  items            ${i.liveItems} live, ${i.deletedItems} deleted`,
    `  clients          ${i.clientIds.length}${i.clientIds.length > 0 ? ` (${i.clientIds.slice(0, 8).join(', ')}${i.clientIds.length > 8 ? ', …' : ''})` : ''}`,
    `  epoch            ${i.epoch ?? '0 (never history-compacted)'}`,
  ].join('\n')

interface Out {
  write(s: string): void
}

/** A usage error: the reason and the usage on stderr, exit code 1 (CLI-4.4). */
const usageError = (err: Out, command: string, reason: string, usage: string): number => {
  err.write(`weft ${command}: ${reason}\n\n${usage}`)
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
  try {
    const ids = doc !== undefined ? [toDocId(doc)] : (await store.list()).sort()
    const report: Record<string, DocInspection> = {}
    for (const id of ids) {
      const stored = await store.load(id)
      if (!stored) {
        err.write(`weft inspect: no document ${JSON.stringify(id)} in ${path}\n`)
        return 1
      }
      const i = inspectDoc(stored)
      report[id] = i
      if (!json) out.write(`${formatInspection(id, i)}\n`)
    }
    if (json) out.write(`${JSON.stringify(report, null, 2)}\n`)
    else if (ids.length === 0) out.write(`no documents in ${path}\n`)
    return 0
  } finally {
    await store.close()
  }
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
    const ids = doc !== undefined ? [toDocId(doc)] : (await store.list()).sort()
    const compactor = new Compactor()
    const bar = progress(out, out.isTTY === true)
    let before = 0
    let after = 0
    let failed = 0
    for (const [n, id] of ids.entries()) {
      bar(n, ids.length, id)
      const outcome = await compactor.compact(store, id)
      if (outcome.ok) {
        before += outcome.bytesBefore
        after += outcome.snapshotBytes
      } else if (outcome.reason !== 'empty') {
        failed++
        err.write(`\nweft compact: ${id}: ${outcome.reason}\n`)
      }
    }
    bar(ids.length, ids.length, 'done')
    if (out.isTTY) out.write('\n')
    out.write(
      `compacted ${ids.length - failed} of ${ids.length} documents: ${kib(before)} -> ${kib(after)}\n`,
    )
    return failed > 0 ? 1 : 0
  } finally {
    await store.close()
  }
}
