import { IndexedDbDocStore } from '@weft/providers/indexeddb'
import { docIdFromHash, listDocs, newDocId, rememberDoc, renameDoc } from './docList.js'
import { awarenessUser, loadUser, saveUser, type DemoUser } from './identity.js'
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

/** The open document and what shows it. */
export interface OpenDocument {
  readonly session: DemoSession
  readonly view: DocumentView
  readonly presence: PresenceTracker
}

/**
 * The demo page: a document list, the open document (editor and whiteboard), its sync status, presence and
 * storage panel. One IndexedDB store for every document; the open document is reopened when the settings change.
 */
export class DemoApp {
  readonly store = new IndexedDbDocStore({ name: 'weft-demo' })
  readonly version = schemaVersionFromUrl()
  readonly status = new StatusView((online) => this.setOnline(online))
  readonly presence = new PresenceView()
  readonly panel = new DocPanel()
  readonly docs = new DocListView()
  #settings: DemoSettings = loadSettings()
  #user: DemoUser = loadUser()
  #online = true
  #current: OpenDocument | null = null
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
        void this.reopen()
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
    window.addEventListener('hashchange', () => void this.openFromHash())
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

  /** Opens the document in the URL (`#doc=<id>`), else the last one opened, else a new one. */
  openFromHash(): Promise<void> {
    const id = docIdFromHash() ?? listDocs()[0]?.id ?? newDocId()
    if (docIdFromHash() !== id) history.replaceState(null, '', `#doc=${encodeURIComponent(id)}`)
    return this.open(id)
  }

  /** Opens a document (closing the current one). Calls run one after another. */
  open(id: string): Promise<void> {
    this.#queue = this.#queue.then(() => this.#open(id)).catch((err: unknown) => this.#fail(err))
    return this.#queue
  }

  /** Closes and reopens the current document (after a settings change). */
  reopen(): Promise<void> {
    const id = this.#current?.session.id
    return id ? this.open(id) : this.openFromHash()
  }

  /** Takes this client offline (every transport disconnected) or back online. */
  setOnline(online: boolean): void {
    this.#online = online
    const handle = this.#current?.session.handle
    if (!handle) return
    if (online) handle.connect()
    else handle.disconnect()
  }

  async #open(id: string): Promise<void> {
    await this.#close()
    rememberDoc(id)
    const session = await openSession({
      id,
      store: this.store,
      settings: this.#settings,
      version: this.version,
      user: this.#user,
      online: this.#online,
    })
    const view = new DocumentView(session, this.#slots, (title) => {
      renameDoc(id, title)
      this.docs.render(id)
    })
    const presence = new PresenceTracker(session.handle)
    this.#current = { session, view, presence }
    this.#opens++
    // History compaction replaced the Y.Doc (a new epoch): the simplest correct rebinding of the editor, the board
    // and the typed schema is to reopen the document, which the store now holds in the new epoch.
    session.handle.on('epoch-changed', () => void this.reopen())
    this.status.attach(session.handle, this.#online)
    this.presence.attach(presence, session.handle)
    this.panel.attach(session.handle, this.store)
    this.docs.render(id)
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

  #fail(err: unknown): void {
    this.#slots.banner.hidden = false
    this.#slots.banner.textContent = `Could not open the document: ${err instanceof Error ? err.message : String(err)}`
  }
}
