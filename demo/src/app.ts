import { IndexedDbDocStore } from '@weft/providers/indexeddb'
import { openDemoWorkspace, type DemoWorkspace } from './demoWorkspace.js'
import { docIdFromHash, newDocId } from './docList.js'
import { awarenessUser, loadUser, saveUser, type DemoUser } from './identity.js'
import { createLargeWorkspace, type LargeWorkspaceProgress } from './largeWorkspace.js'
import { registerOfflineShell } from './offlineShell.js'
import { openSession, type DemoSession } from './session.js'
import { loadSettings, saveSettings, schemaVersionFromUrl, type DemoSettings } from './settings.js'
import { DocListView } from './ui/DocListView.js'
import { DocPanel } from './ui/DocPanel.js'
import { DocumentView } from './ui/DocumentView.js'
import { h } from './ui/h.js'
import { PresenceTracker } from './ui/PresenceTracker.js'
import { PresenceView } from './ui/PresenceView.js'
import { createSettingsView } from './ui/SettingsView.js'
import { StatusView } from './ui/StatusView.js'
import { installWorkspaceHook } from './workspaceHook.js'

/** The open document and what shows it. */
export interface OpenDocument {
  readonly session: DemoSession
  readonly view: DocumentView
  readonly presence: PresenceTracker
}

/**
 * The demo page: the document list (the catalogue of workspace `demo`), the open document (editor and whiteboard),
 * its sync status, presence and storage panel. One IndexedDB store for the workspace and every document; documents
 * open lazily through the workspace; the workspace and the open document are reopened when the settings change.
 */
export class DemoApp {
  readonly store = new IndexedDbDocStore({ name: 'weft-demo' })
  readonly version = schemaVersionFromUrl()
  readonly status = new StatusView((online) => this.setOnline(online))
  readonly presence = new PresenceView()
  readonly panel = new DocPanel()
  readonly docs = new DocListView({
    create: () => this.createDoc(),
    rename: (id, title) => this.rename(id, title),
    delete: (id) => this.deleteDoc(id),
    large: () => void this.createLarge(),
  })
  #settings: DemoSettings = loadSettings()
  #user: DemoUser = loadUser()
  #online = true
  #current: OpenDocument | null = null
  #workspace: DemoWorkspace | null = null
  #large: Promise<string[]> | null = null
  #stopLarge: AbortController | null = null
  #largeProgress: (LargeWorkspaceProgress & { running: boolean }) | null = null
  /** Resolves once the page's files are stored for offline reloads (`offlineShell.ts`). */
  readonly offlineReady: Promise<boolean> = registerOfflineShell().then(
    () => true,
    () => false,
  )
  #opens = 0
  #queue: Promise<void> = Promise.resolve()
  readonly #slots = {
    editor: h('div', { class: 'editor', 'data-testid': 'editor' }),
    board: h('div', { class: 'board-host' }),
    banner: h('div', { class: 'banner', 'data-testid': 'schema-banner', hidden: '' }),
    title: h('input', { class: 'title', 'data-testid': 'doc-title', 'aria-label': 'Document title' }),
  }

  constructor(root: HTMLElement) {
    const settings = createSettingsView(this.#settings, this.#user, this.version, {
      settings: (s) => {
        this.#settings = s
        saveSettings(s)
        void this.#enqueue(() => this.#reopenWorkspace())
      },
      user: (u) => {
        this.#user = u
        saveUser(u)
        this.#current?.session.handle.awareness.setLocalStateField('user', awarenessUser(u))
      },
    })
    root.append(
      h('header', {}, h('h1', {}, 'Weft'), this.#slots.title, this.status.element, settings),
      this.#slots.banner,
      h(
        'main',
        {},
        h('aside', {}, this.docs.element, this.presence.element, this.panel.element),
        h('section', { class: 'pane' }, h('h2', {}, 'Text'), this.#slots.editor),
        h('section', { class: 'pane' }, h('h2', {}, 'Whiteboard'), this.#slots.board),
      ),
    )
    // The title field renames the open document in the list too (DocumentView writes it into the document).
    this.#slots.title.addEventListener('change', () => {
      const id = this.#current?.session.id
      if (id) this.rename(id, this.#slots.title.value.trim() || 'Untitled')
    })
    window.addEventListener('hashchange', () => void this.openFromHash())
    installWorkspaceHook(this)
  }

  /** The workspace whose catalogue the list shows (null until it is opened from IndexedDB). */
  get workspace(): DemoWorkspace | null {
    return this.#workspace
  }

  /** The progress of the running or last "Large workspace" creation (null: never started on this page). */
  get largeProgress(): (LargeWorkspaceProgress & { readonly running: boolean }) | null {
    return this.#largeProgress
  }

  /** The open document, if any. */
  get current(): OpenDocument | null {
    return this.#current
  }

  /** How many times a document was opened since the page loaded (reopens after an epoch change count too). */
  get opens(): number {
    return this.#opens
  }

  /** Whether this client is online (the switch). */
  get online(): boolean {
    return this.#online
  }

  /** Opens the document in the URL (`#doc=<id>`), else the newest one in the list, else a new one. */
  openFromHash(): Promise<void> {
    return this.#enqueue(async () => {
      const ws = await this.#openWorkspace()
      const id = docIdFromHash() ?? ws.workspace.list.entries[0]?.id ?? newDocId()
      if (docIdFromHash() !== id) history.replaceState(null, '', `#doc=${encodeURIComponent(id)}`)
      await this.#open(id)
    })
  }

  /** Opens a document (closing the current one). Calls run one after another. */
  open(id: string): Promise<void> {
    return this.#enqueue(() => this.#open(id))
  }

  /** Closes and reopens the current document (after an epoch change). */
  reopen(): Promise<void> {
    const id = this.#current?.session.id
    return id ? this.open(id) : this.openFromHash()
  }

  /** Takes this client offline (the workspace and everything in it disconnected) or back online. */
  setOnline(online: boolean): void {
    this.#online = online
    const ws = this.#workspace?.workspace
    if (!ws) return
    if (online) ws.connect()
    else ws.disconnect()
  }

  /** "New document": adds a document to the list and opens it. */
  createDoc(): void {
    const ws = this.#workspace?.workspace
    const id = newDocId()
    ws?.create({ id, title: 'Untitled' })
    location.hash = `doc=${encodeURIComponent(id)}`
  }

  /** Renames document `id` in the list (its catalogue record), and in the document itself if it is open. */
  rename(id: string, title: string): void {
    this.#workspace?.workspace.update(id, { title })
    const cur = this.#current
    if (
      cur?.session.id === id &&
      cur.session.typed.writable &&
      cur.session.typed.root.meta.get('title') !== title
    )
      cur.session.typed.root.meta.set('title', title)
  }

  /** Deletes document `id` (a tombstone every replica sees); if it is open here, the next one in the list opens. */
  deleteDoc(id: string): void {
    const ws = this.#workspace?.workspace
    if (!ws) return
    ws.delete(id)
    if (this.#current?.session.id !== id) return
    const next = ws.list.entries[0]?.id ?? newDocId()
    location.hash = `doc=${encodeURIComponent(next)}`
  }

  /** "Large workspace": creates 2,000 small documents in batches, showing progress. Resolves with their ids. */
  createLarge(count = 2000): Promise<string[]> {
    const ws = this.#workspace?.workspace
    if (!ws) return Promise.resolve([])
    if (this.#large) return this.#large
    const show = (p: LargeWorkspaceProgress, running: boolean, note?: string) => {
      this.#largeProgress = { ...p, running }
      this.docs.showLarge(p, running, note)
    }
    show({ done: 0, total: count }, true)
    const stop = new AbortController()
    this.#stopLarge = stop
    const run = createLargeWorkspace(ws, { count, signal: stop.signal, onProgress: (p) => show(p, true) })
    this.#large = run
    run.then(
      (ids) => {
        const note = ids.length < count ? 'stopped (the settings changed)' : 'done: each opens on demand'
        show({ done: ids.length, total: count }, false, note)
        this.#large = null
      },
      (err: unknown) => {
        this.#largeProgress = { done: this.#largeProgress?.done ?? 0, total: count, running: false }
        this.docs.showLarge(null, false, `Failed: ${err instanceof Error ? err.message : String(err)}`)
        this.#large = null
      },
    )
    return run
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(step).catch((err: unknown) => this.#fail(err))
    return this.#queue
  }

  /** The workspace, opened from IndexedDB (the list shows at once) with the current settings. */
  async #openWorkspace(): Promise<DemoWorkspace> {
    if (this.#workspace) return this.#workspace
    const ws = await openDemoWorkspace({ store: this.store, settings: this.#settings, online: this.#online })
    ws.workspace.on('error', ({ error }) => this.#fail(error, 'The workspace reported a fault'))
    this.#workspace = ws
    this.docs.attach(ws.workspace)
    return ws
  }

  /** Closes the document and the workspace, then opens both again (the settings changed). */
  async #reopenWorkspace(): Promise<void> {
    const id = this.#current?.session.id ?? null
    await this.#close()
    const ws = this.#workspace
    this.#workspace = null
    this.docs.attach(null)
    this.#stopLarge?.abort() // "Large workspace" stops after its current batch
    await this.#large?.catch(() => undefined)
    await ws?.destroy()
    if (id) await this.#open(id)
  }

  async #open(id: string): Promise<void> {
    await this.#close()
    const ws = await this.#openWorkspace()
    const session = await openSession({ id, workspace: ws, version: this.version, user: this.#user })
    const view = new DocumentView(session, this.#slots, () => undefined)
    const presence = new PresenceTracker(session.handle)
    this.#current = { session, view, presence }
    this.#opens++
    this.#ensureListed(ws, session)
    // History compaction: this page started an epoch (the Y.Doc was replaced), or a peer's epoch is waiting for the
    // next open. The simplest correct rebinding of the editor, the board and the typed schema is to reopen the
    // document, which then loads in the new epoch.
    session.handle.on('epoch-changed', () => void this.reopen())
    session.handle.on('epoch-available', () => void this.reopen())
    this.status.attach(session.handle, this.#online)
    this.presence.attach(presence, session.handle)
    this.panel.attach(session.handle, this.store)
    this.docs.render(id)
  }

  /**
   * A document opened by its link may not be in the list yet. It is added once the catalogue has synced (at once if
   * it has), so that a record a peer already wrote (its title) is never replaced by an empty one.
   */
  #ensureListed(ws: DemoWorkspace, session: DemoSession): void {
    const add = () => {
      if (this.#workspace !== ws || ws.workspace.list.get(session.id)) return
      ws.workspace.create({ id: session.id, title: session.typed.root.meta.get('title') })
    }
    void ws.workspace.catalogue.whenSynced.then(add)
  }

  async #close(): Promise<void> {
    const cur = this.#current
    if (!cur) return
    this.#current = null
    this.status.attach(null, this.#online)
    this.presence.attach(null, null)
    this.panel.attach(null, null)
    cur.presence.destroy()
    cur.view.destroy()
    await cur.session.close()
  }

  #fail(err: unknown, what = 'Could not open the document'): void {
    this.#slots.banner.hidden = false
    this.#slots.banner.textContent = `${what}: ${err instanceof Error ? err.message : String(err)}`
  }
}
