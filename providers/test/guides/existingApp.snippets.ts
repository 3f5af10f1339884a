/**
 * The code of docs/guides/getting-started.md ("Add Weft to an existing app") and
 * docs/guides/migrating-from-y-providers.md, as the guides show it, importing the packages by their public names.
 * `npm run typecheck` checks it (providers/test is in tsconfig.check.json), so a guide snippet that no longer
 * compiles against the real exports fails CI. Browser code: type-checked, not run here (the Node peer is in
 * nodePeer.snippet.ts, which guides.snippets.test.ts runs against a real `weft serve`).
 * Keep each function in step with its guide section.
 */
import { EditorState } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import { defineConfig } from 'vite'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import { docId, isRetryableClose } from '@weft/core'
import { BroadcastChannelTransport, openDoc, WebSocketTransport, type WeftDoc } from '@weft/providers'
import { IndexedDbDocStore } from '@weft/providers/indexeddb'
import { WebRtcTransport } from '@weft/providers/webrtc'

declare const getToken: () => Promise<string>
declare const showStatus: (text: string) => void
declare const showSignIn: (reason: string) => void

// getting-started.md, "Add Weft to an existing app", vite.config.ts
export const viteConfig = defineConfig({
  server: {
    proxy: {
      '/relay': { target: 'http://localhost:4444', ws: true },
      '/signal': { target: 'http://localhost:4444', ws: true },
    },
  },
})

// getting-started.md, src/collab.ts
export async function openEditor(parent: HTMLElement, docId: string): Promise<() => Promise<void>> {
  const ws = location.origin.replace(/^http/, 'ws') // the page's origin: Vite proxies /relay and /signal
  const handle = await openDoc({
    docId,
    store: new IndexedDbDocStore(), // the local copy: openDoc resolves once it is loaded
    relay: new WebSocketTransport({ url: `${ws}/relay`, room: docId }),
    transports: [
      new WebRtcTransport({ room: docId, signaling: [`${ws}/signal`] }),
      new BroadcastChannelTransport({ room: docId }),
    ],
  })
  handle.awareness.setLocalStateField('user', { name: 'Ada', color: '#2563eb' })

  // Bind the editor once: the Y.Doc stays put (a history reset started elsewhere is taken at the next open).
  const text = handle.doc.getText('body')
  const undoManager = new Y.UndoManager(text)
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [keymap.of(yUndoManagerKeymap), yCollab(text, handle.awareness, { undoManager })],
    }),
  })

  handle.on('status', ({ status, pendingChanges }) =>
    showStatus(pendingChanges > 0 ? `${status} · ${pendingChanges} pending` : status),
  )
  handle.on('error', ({ error }) => console.warn(error.code, error.message)) // never thrown

  return async () => {
    view.destroy()
    undoManager.destroy()
    await handle.destroy()
  }
}

// migrating-from-y-providers.md, "Side by side" (after)
export async function sideBySide(): Promise<Y.Doc> {
  const handle = await openDoc({
    docId: 'my-room',
    store: new IndexedDbDocStore(), // resolves once loaded from IndexedDB
    relay: new WebSocketTransport({ url: 'wss://relay.example/relay', room: 'my-room', token: getToken }),
    transports: [
      new WebRtcTransport({ room: 'my-room', signaling: ['wss://relay.example/signal'] }),
      new BroadcastChannelTransport({ room: 'my-room' }), // y-websocket and y-webrtc did this for you
    ],
  })
  const doc: Y.Doc = handle.doc // the Y.Doc (pass your own with openDoc({ doc }))
  handle.on('sync', (synced) => console.log(synced))
  return doc
}

// migrating-from-y-providers.md, "y-websocket"
export async function fromYWebsocket(): Promise<WeftDoc> {
  const handle = await openDoc({
    docId: 'my-room',
    relay: new WebSocketTransport({
      url: 'wss://relay.example/relay',
      room: 'my-room',
      token: getToken, // called before every connection attempt
      maxReconnectMs: 2500,
    }),
    connect: false,
  })
  handle.connect()
  handle.on('sync', (synced) => console.log(synced ? 'synced' : 'not synced'))
  handle.on('connection-error', ({ code, reason, willRetry }) => {
    if (!willRetry) showSignIn(`${reason} (${code})`)
  })
  return handle
}

// migrating-from-y-providers.md, "y-webrtc"
export async function fromYWebrtc(doc: Y.Doc): Promise<WeftDoc> {
  const handle = await openDoc({
    docId: 'my-room',
    doc,
    transports: [
      new WebRtcTransport({
        room: 'my-room',
        signaling: ['wss://signal.example/signal'],
        password: 'optional room password',
        maxConns: 20,
        iceServers: [{ urls: 'stun:stun.l.google.com:19302' }],
      }),
    ],
  })
  const webrtc = handle.paths.filter((p) => p.kind === 'webrtc').map((p) => p.peer)
  console.log(webrtc)
  return handle
}

// migrating-from-y-providers.md, "y-indexeddb"
export async function fromYIndexeddb(doc: Y.Doc, old: Y.Doc): Promise<void> {
  const store = new IndexedDbDocStore()
  const handle = await openDoc({ docId: 'my-room', doc, store })
  await handle.whenSynced // at once here: no transport, and openDoc already loaded the local copy

  // Carry over a document y-indexeddb stored (loaded into `old` by IndexeddbPersistence): a local change.
  Y.applyUpdate(handle.doc, Y.encodeStateAsUpdate(old))
  await handle.whenSaved() // with no transport: written to IndexedDB

  await handle.destroy()
  await store.remove(docId('my-room')) // y-indexeddb's clearData()
  await store.close()
}

// migrating-from-y-providers.md, "Lifecycle side by side"
export function isFinal(code: number): boolean {
  return !isRetryableClose(code)
}
