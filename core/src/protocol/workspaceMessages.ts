/**
 * The wire of the relay's multiplexed workspace endpoint (`ws://host/workspace/<W>`, docs/spec/workspaces.md, rules
 * `WS-WIRE-*`): one WebSocket carries any number of documents of one workspace. Every WebSocket message is one
 * binary frame: a varUint kind, then the kind's fields (lib0 encoding):
 *
 * | kind | name | direction | fields |
 * |---|---|---|---|
 * | 0 | DOC | both | varString doc, then exactly one per-document message as on `/relay/<room>` |
 * | 1 | SUBSCRIBE | client → relay | varString doc, then optionally varUint8Array deletions digest (8 bytes) |
 * | 2 | UNSUBSCRIBE | client → relay | varString doc |
 * | 3 | CATCH_UP | client → relay | varUint cursor, varUint pageSize |
 * | 4 | CHANGES | relay → client | varUint count, count × (varString doc, varUint seq), varUint through, varUint more |
 * | 5 | CHANGED | relay → client | varString doc, varUint seq |
 * | 6 | REFUSED | relay → client | varString doc, varUint closeCode, varString reason |
 *
 * The decoder never throws on a peer's bytes: it returns `{ ok: false, reason }`, and the receiver closes the socket
 * with `CloseCode.MalformedMessage` (WS-WIRE-2).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { MAX_WORKSPACE_DOC_BYTES, type WorkspaceChange } from '../storage/WorkspaceIndex.js'
import { readString } from './checkedDecoding.js'
import { DELETIONS_DIGEST_BYTES } from './deleteSets.js'

/** The kinds of workspace frames (the first varUint of every frame, WS-WIRE-1). */
export const WorkspaceFrameKind = {
  /** Both ways: one per-document message (`decodeMessage`'s input) of the named document. */
  Doc: 0,
  /** Client → relay: join the document's room as an ordinary member. */
  Subscribe: 1,
  /** Client → relay: leave the document's room. */
  Unsubscribe: 2,
  /** Client → relay: ask for the documents changed after a cursor of the workspace's change sequence. */
  CatchUp: 3,
  /** Relay → client: one page of the answer to a catch-up. */
  Changes: 4,
  /** Relay → client: a document of the workspace was stored with a change sequence number. */
  Changed: 5,
  /** Relay → client: the relay refused something about one document; the socket stays open. */
  Refused: 6,
} as const

/** Union of every {@link WorkspaceFrameKind} value. */
export type WorkspaceFrameKind = (typeof WorkspaceFrameKind)[keyof typeof WorkspaceFrameKind]

const utf8Length = (s: string): number => new TextEncoder().encode(s).byteLength

/** A decoded workspace frame; `kind` names the {@link WorkspaceFrameKind}. */
export type WorkspaceFrame =
  | {
      readonly kind: 'doc'
      readonly doc: string
      /** The per-document message (a view into the frame, not a copy), as `decodeMessage` takes it. */
      readonly message: Uint8Array
    }
  | {
      readonly kind: 'subscribe'
      readonly doc: string
      /**
       * The digest of the deletions the client holds of `doc` (`deletionsDigest`, 16 bytes), or `null`: when the
       * relay's deletions have the same digest, its step 2 need not carry them (WS-WIRE-6).
       */
      readonly deletions: Uint8Array | null
    }
  | { readonly kind: 'unsubscribe'; readonly doc: string }
  | {
      readonly kind: 'catch-up'
      /** The change sequence number the client has fully seen (0: never caught up). */
      readonly cursor: number
      /** The most documents the client wants per `changes` page (the relay may send fewer). */
      readonly pageSize: number
    }
  | {
      readonly kind: 'changes'
      readonly changes: readonly WorkspaceChange[]
      /** Every change with `seq <= through` is in this page or an earlier one. */
      readonly through: number
      /** Whether another page follows. */
      readonly more: boolean
    }
  | { readonly kind: 'changed'; readonly doc: string; readonly seq: number }
  | {
      readonly kind: 'refused'
      readonly doc: string
      /** A `CloseCode` of `@weft/core`: what a per-room connection would have been closed with. */
      readonly code: number
      readonly reason: string
    }

/** The outcome of {@link decodeWorkspaceFrame}: the frame, or why the bytes are not one. */
export type WorkspaceFrameResult =
  { readonly ok: true; readonly frame: WorkspaceFrame } | { readonly ok: false; readonly reason: string }

class Malformed extends Error {}

const readDocId = (d: decoding.Decoder): string => {
  const doc = readString(d)
  if (doc.length === 0) throw new Malformed('empty document id')
  if (utf8Length(doc) > MAX_WORKSPACE_DOC_BYTES) throw new Malformed('document id too long')
  return doc
}

const readFrame = (d: decoding.Decoder): WorkspaceFrame => {
  const kind = decoding.readVarUint(d)
  switch (kind) {
    case WorkspaceFrameKind.Doc: {
      const doc = readDocId(d)
      if (!decoding.hasContent(d)) throw new Malformed('DOC frame without a message')
      const message = d.arr.subarray(d.pos)
      d.pos = d.arr.length
      return { kind: 'doc', doc, message }
    }
    case WorkspaceFrameKind.Subscribe: {
      const doc = readDocId(d)
      if (!decoding.hasContent(d)) return { kind: 'subscribe', doc, deletions: null }
      const deletions = decoding.readVarUint8Array(d)
      if (deletions.byteLength !== DELETIONS_DIGEST_BYTES)
        throw new Malformed(`SUBSCRIBE deletions digest of ${deletions.byteLength} bytes`)
      return { kind: 'subscribe', doc, deletions }
    }
    case WorkspaceFrameKind.Unsubscribe:
      return { kind: 'unsubscribe', doc: readDocId(d) }
    case WorkspaceFrameKind.CatchUp: {
      const cursor = decoding.readVarUint(d)
      const pageSize = decoding.readVarUint(d)
      return { kind: 'catch-up', cursor, pageSize }
    }
    case WorkspaceFrameKind.Changes: {
      const count = decoding.readVarUint(d)
      // Each entry takes at least three bytes: a count the frame cannot hold fails at once, not after a long loop.
      if (count * 3 > d.arr.length - d.pos)
        throw new Malformed(`CHANGES count ${count} runs past the end of the frame`)
      const changes: WorkspaceChange[] = []
      for (let i = 0; i < count; i++) {
        const doc = readDocId(d)
        changes.push({ doc, seq: decoding.readVarUint(d) })
      }
      const through = decoding.readVarUint(d)
      const more = decoding.readVarUint(d)
      if (more > 1) throw new Malformed(`CHANGES more flag ${more}`)
      return { kind: 'changes', changes, through, more: more === 1 }
    }
    case WorkspaceFrameKind.Changed: {
      const doc = readDocId(d)
      return { kind: 'changed', doc, seq: decoding.readVarUint(d) }
    }
    case WorkspaceFrameKind.Refused: {
      const doc = readDocId(d)
      const code = decoding.readVarUint(d)
      return { kind: 'refused', doc, code, reason: readString(d) }
    }
    default:
      throw new Malformed(`unknown workspace frame kind ${kind}`)
  }
}

/**
 * Decodes one workspace frame (WS-WIRE-2). Never throws on the bytes: anything truncated, unknown, with bytes left
 * over, or with a document id that is empty, too long or not UTF-8 comes back as `{ ok: false, reason }`. A DOC
 * frame's message is returned undecoded (a view into `data`): the document's own protocol decodes it.
 */
export const decodeWorkspaceFrame = (data: Uint8Array): WorkspaceFrameResult => {
  const d = decoding.createDecoder(data)
  try {
    const frame = readFrame(d)
    if (decoding.hasContent(d)) return { ok: false, reason: `${data.length - d.pos} bytes after the frame` }
    return { ok: true, frame }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }
}

const finish = (write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

/**
 * The bytes a DOC frame of `doc` starts with (kind and document id): a DOC frame is this followed by the message,
 * so a sender that writes parts (a shared broadcast) prepends it without copying the message.
 */
export const encodeDocFrameHead = (doc: string): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Doc)
    encoding.writeVarString(e, doc)
  })

/** A DOC frame: `message` (one per-document message, as `encodeSyncUpdate` etc. return it) of document `doc`. */
export const encodeDocFrame = (doc: string, message: Uint8Array): Uint8Array => {
  const head = encodeDocFrameHead(doc)
  const out = new Uint8Array(head.byteLength + message.byteLength)
  out.set(head, 0)
  out.set(message, head.byteLength)
  return out
}

/**
 * A SUBSCRIBE frame: join document `doc`'s room; with `deletions`, the digest of the deletions the client holds of it
 * (`deletionsDigest`, WS-WIRE-6).
 */
export const encodeSubscribe = (doc: string, deletions?: Uint8Array | null): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Subscribe)
    encoding.writeVarString(e, doc)
    if (deletions) encoding.writeVarUint8Array(e, deletions)
  })

/** An UNSUBSCRIBE frame: leave document `doc`'s room. */
export const encodeUnsubscribe = (doc: string): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Unsubscribe)
    encoding.writeVarString(e, doc)
  })

/** A CATCH_UP frame: the documents changed after `cursor`, at most `pageSize` per page. */
export const encodeCatchUp = (cursor: number, pageSize: number): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.CatchUp)
    encoding.writeVarUint(e, cursor)
    encoding.writeVarUint(e, pageSize)
  })

/** A CHANGES frame: one page of a catch-up's answer. */
export const encodeChanges = (
  changes: readonly WorkspaceChange[],
  through: number,
  more: boolean,
): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Changes)
    encoding.writeVarUint(e, changes.length)
    for (const change of changes) {
      encoding.writeVarString(e, change.doc)
      encoding.writeVarUint(e, change.seq)
    }
    encoding.writeVarUint(e, through)
    encoding.writeVarUint(e, more ? 1 : 0)
  })

/** A CHANGED frame: document `doc` was stored with change sequence number `seq`. */
export const encodeChanged = (doc: string, seq: number): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Changed)
    encoding.writeVarString(e, doc)
    encoding.writeVarUint(e, seq)
  })

/** A REFUSED frame: the relay refused something about `doc` with a `CloseCode` and a reason; the socket stays. */
export const encodeRefused = (doc: string, code: number, reason: string): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, WorkspaceFrameKind.Refused)
    encoding.writeVarString(e, doc)
    encoding.writeVarUint(e, code)
    encoding.writeVarString(e, reason)
  })
