// Runs in Chromium: one document opened with openDoc (IndexedDbDocStore, the relay of `weft serve`, the default
// epoch mode), with y-codemirror.next bound to its Y.Text `code` and y-prosemirror bound to its Y.XmlFragment
// `prose`; and a second client of the relay (its own connection and client id, in memory, `epochs: 'live'`), the
// peer that resets the epoch. The spec drives both through window.hook; typing goes through the real editors
// (COMPACT-8, PROV-5.17).
import { EditorState as CmState } from '@codemirror/state'
import { EditorView as CmView } from '@codemirror/view'
import { schema } from 'prosemirror-schema-basic'
import { EditorState as PmState } from 'prosemirror-state'
import { EditorView as PmView } from 'prosemirror-view'
import { yCollab } from 'y-codemirror.next'
import { ySyncPlugin } from 'y-prosemirror'
import type * as Y from 'yjs'
import { MemoryDocStore } from '@weft/core/testing'
import { openDoc, WebSocketTransport, type WeftDoc } from '@weft/providers'
import { IndexedDbDocStore } from '@weft/providers/indexeddb'

const params = new URL(location.href).searchParams
const relayUrl = params.get('relay') ?? ''
const room = params.get('room') ?? 'binding'
const store = new IndexedDbDocStore({ name: `binding-${room}` })

interface Opened {
  readonly handle: WeftDoc
  /** The Y.Doc the app received from openDoc, and the shared types the editors were bound to. */
  readonly doc: Y.Doc
  readonly code: Y.Text
  readonly prose: Y.XmlFragment
  readonly cm: CmView
  readonly pm: PmView
  epochChanged: number
  epochAvailable: string | null
}

let current: Opened | null = null
/** A space typed at the end of a paragraph is stored as U+00A0 (the browser's contenteditable): compared as one. */
const nbsp = (s: string): string => s.replace(/\u00a0/g, ' ')
let peer: WeftDoc | null = null
const needPeer = (): WeftDoc => {
  if (!peer) throw new Error('no peer')
  return peer
}

const open = async (): Promise<Opened> => {
  const handle = await openDoc({ docId: room, store, relay: new WebSocketTransport({ url: relayUrl, room }) })
  const doc = handle.doc
  const code = doc.getText('code')
  const prose = doc.getXmlFragment('prose')
  const cmParent = document.getElementById('cm')!
  const pmParent = document.getElementById('pm')!
  const cm = new CmView({
    parent: cmParent,
    state: CmState.create({ doc: code.toString(), extensions: [yCollab(code, handle.awareness)] }),
  })
  const pm = new PmView(pmParent, {
    state: PmState.create({ schema, plugins: [ySyncPlugin(prose)] }),
  })
  const opened: Opened = { handle, doc, code, prose, cm, pm, epochChanged: 0, epochAvailable: null }
  handle.on('epoch-changed', () => opened.epochChanged++)
  handle.on('epoch-available', ({ record }) => (opened.epochAvailable = record.id))
  return opened
}

const close = async (): Promise<void> => {
  const o = current
  current = null
  if (!o) return
  o.cm.destroy()
  o.pm.destroy()
  await o.handle.destroy()
}

const need = (): Opened => {
  if (!current) throw new Error('not open')
  return current
}

const hook = {
  /** What the page shows and what the document holds, for the spec to compare. */
  state: () => {
    const o = need()
    return {
      epoch: o.handle.session.epoch,
      status: o.handle.status,
      pending: o.handle.pendingChanges,
      epochChanged: o.epochChanged,
      epochAvailable: o.epochAvailable,
      // The handle still hands out the Y.Doc the editors were bound to, and those are its types.
      sameDoc:
        o.handle.doc === o.doc &&
        o.doc.getText('code') === o.code &&
        o.doc.getXmlFragment('prose') === o.prose,
      codeText: o.code.toString(),
      codeShown: o.cm.state.doc.toString(),
      proseText: nbsp(o.prose.toDOM().textContent ?? ''),
      proseShown: nbsp(o.pm.state.doc.textContent),
    }
  },
  /** The peer's view: what reached the relay (it is in the relay's epoch). */
  peer: () => {
    const p = needPeer()
    return {
      epoch: p.session.epoch,
      code: p.doc.getText('code').toString(),
      prose: nbsp(p.doc.getXmlFragment('prose').toString()),
    }
  },
  /** The peer starts an epoch (history reset); the relay follows it and offers it to every client. */
  startEpoch: async () => (await needPeer().epochs!.start()).id,
  peerInsert: (text: string) => needPeer().doc.getText('code').insert(0, text),
  reopen: async () => {
    await close()
    current = await open()
    return hook.state()
  },
}

;(async () => {
  document.body.innerHTML = '<div id="cm" data-testid="cm"></div><div id="pm" data-testid="pm"></div>'
  current = await open()
  peer = await openDoc({
    docId: room,
    store: new MemoryDocStore(),
    relay: new WebSocketTransport({ url: relayUrl, room }),
    epochs: 'live',
  })
  ;(window as unknown as { hook: typeof hook }).hook = hook
})().catch((err: unknown) => {
  ;(window as unknown as { failed: string }).failed = String(err)
})
