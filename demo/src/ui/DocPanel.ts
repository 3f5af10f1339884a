import * as Y from 'yjs'
import { inspectDoc, type DocInspection, type DocStore } from '@weft/core'
import type { WeftDoc } from '@weft/providers'
import { h } from './h.js'

const kb = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`)

/** Inspects the locally stored copy of a document (`inspectDoc` over `store.load`); null if nothing is stored. */
export const inspectStored = async (store: DocStore, handle: WeftDoc): Promise<DocInspection | null> => {
  await handle.persistence?.flushed()
  const stored = await store.load(handle.docId)
  return stored ? inspectDoc(stored) : null
}

/**
 * The document panel: history size (as stored locally: snapshot + update tail), deleted items, live items, epoch,
 * and a "Compact" action (`DocPersistence.compact()`: folds the update tail into one snapshot).
 */
export class DocPanel {
  readonly element: HTMLElement
  readonly #table = h('dl', { class: 'stats', 'data-testid': 'doc-stats' })
  readonly #compact = h('button', { 'data-testid': 'compact' }, 'Compact')
  readonly #note = h('p', { class: 'muted', 'data-testid': 'compact-result' })
  #handle: WeftDoc | null = null
  #store: DocStore | null = null
  #timer: ReturnType<typeof setTimeout> | null = null
  #last: DocInspection | null = null
  readonly #onUpdate = () => this.#schedule()

  constructor() {
    this.element = h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Document'),
      this.#table,
      this.#compact,
      this.#note,
    )
    this.#compact.addEventListener('click', () => void this.compact())
  }

  /** The last inspection shown. */
  get inspection(): DocInspection | null {
    return this.#last
  }

  /** Follows another document (or none). */
  attach(handle: WeftDoc | null, store: DocStore | null): void {
    this.#handle?.doc.off('update', this.#onUpdate)
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#handle = handle
    this.#store = store
    this.#last = null
    this.#note.textContent = ''
    handle?.doc.on('update', this.#onUpdate)
    this.#compact.disabled = !handle?.persistence
    void this.refresh()
  }

  /** Re-reads the stored document and shows it. */
  async refresh(): Promise<DocInspection | null> {
    const handle = this.#handle
    const store = this.#store
    if (!handle || !store) return null
    let info: DocInspection | null = null
    try {
      info = await inspectStored(store, handle)
    } catch (err) {
      this.#note.textContent = `Cannot inspect: ${err instanceof Error ? err.message : String(err)}`
    }
    if (handle !== this.#handle) return info
    this.#last = info
    const rows: Array<[string, string]> = [
      ['In memory (V2)', kb(Y.encodeStateAsUpdateV2(handle.doc).byteLength)],
      ['Stored', info ? kb(info.storedBytes) : '—'],
      ['Snapshot', info ? kb(info.snapshotBytes) : '—'],
      ['Update tail', info ? String(info.storedUpdates) : '—'],
      ['Deleted items', info ? String(info.deletedItems) : '—'],
      ['Live items', info ? String(info.liveItems) : '—'],
      ['Writers', info ? String(info.clientIds.length) : '—'],
      ['Epoch', info?.epoch ?? '— (never rebased)'],
    ]
    this.#table.replaceChildren(
      ...rows.flatMap(([k, v]) => [
        h('dt', {}, k),
        h('dd', { 'data-stat': k.toLowerCase().replace(/\W+/g, '-') }, v),
      ]),
    )
    return info
  }

  /** Folds the local update log into one snapshot, then shows the result. */
  async compact(): Promise<void> {
    const p = this.#handle?.persistence
    if (!p) return
    this.#compact.disabled = true
    try {
      const outcome = await p.compact()
      this.#note.textContent = outcome.ok
        ? `Folded ${outcome.compactedUpdates} updates: ${kb(outcome.bytesBefore)} → ${kb(outcome.snapshotBytes)}`
        : `Nothing to compact (${outcome.reason})`
    } catch (err) {
      this.#note.textContent = `Compaction failed: ${err instanceof Error ? err.message : String(err)}`
    } finally {
      this.#compact.disabled = false
    }
    await this.refresh()
  }

  /** At most one refresh per 500 ms while changes keep coming (a throttle, not a debounce). */
  #schedule(): void {
    if (this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.refresh()
    }, 500)
  }
}
