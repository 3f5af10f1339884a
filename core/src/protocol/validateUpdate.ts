import * as decoding from 'lib0/decoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { readString, skipBytes } from './checkedDecoding.js'

/** Highest content ref of an Item in update format V1 (ContentDoc). */
const MAX_CONTENT_REF = 9
/** Type refs (ContentType) Yjs knows: YArray..YXmlText. 3 (XmlElement) and 5 (XmlHook) carry a name. */
const MAX_TYPE_REF = 6

/** A varString is a varUint byte length + UTF-8 bytes: skipping needs no decoding. */
let skipString: (d: decoding.Decoder) => void = skipBytes
const checkString = (d: decoding.Decoder): void => void readString(d)

const readByte = (d: decoding.Decoder): number => {
  if (d.pos >= d.arr.length) throw new Error('unexpected end')
  return decoding.readUint8(d)
}

const skipContent = (d: decoding.Decoder, ref: number): void => {
  switch (ref) {
    case 1: // ContentDeleted
      decoding.readVarUint(d)
      return
    case 2: {
      // ContentJSON: len strings (JSON text, or "undefined")
      const len = decoding.readVarUint(d)
      for (let i = 0; i < len; i++) JSON.parse(orUndefined(readString(d)))
      return
    }
    case 3: // ContentBinary
      skipBytes(d)
      return
    case 4: // ContentString
      skipString(d)
      return
    case 5: // ContentEmbed
      JSON.parse(readString(d))
      return
    case 6: // ContentFormat: key, JSON value
      skipString(d)
      JSON.parse(readString(d))
      return
    case 7: {
      // ContentType
      const typeRef = decoding.readVarUint(d)
      if (typeRef > MAX_TYPE_REF) throw new Error(`unknown type ref ${typeRef}`)
      if (typeRef === 3 || typeRef === 5) skipString(d)
      return
    }
    case 8: {
      // ContentAny
      const len = decoding.readVarUint(d)
      for (let i = 0; i < len; i++) readAny(d)
      return
    }
    case 9: // ContentDoc: guid, options
      skipString(d)
      readAny(d)
      return
    default:
      throw new Error(`unknown content ref ${ref}`)
  }
}

const readAny = (d: decoding.Decoder): void => {
  decoding.readAny(d)
  if (d.pos > d.arr.length) throw new Error('value runs past the end')
}

const orUndefined = (s: string): string => (s === 'undefined' ? 'null' : s)

/** Options of {@link validateUpdate}. */
export interface ValidateUpdateOptions {
  /**
   * Also decode every string as UTF-8 (default false). A peer that applies updates does not need it (Yjs refuses
   * invalid UTF-8 before integrating anything); a relay that stores and forwards updates without applying them
   * does, or it would store bytes its clients cannot read.
   */
  readonly strings?: boolean
}

/** What {@link validateUpdate} learned on its walk. */
export interface UpdateSummary {
  /**
   * Clock units the update marks deleted (its delete set) or carries as garbage-collected ranges: 0 means the
   * update holds no deleted content, so rebuilding it through a garbage-collecting `Y.Doc` would drop nothing.
   */
  readonly deleted: number
}

/**
 * Walks a Yjs update (format V1, the one y-protocols sends) without building anything, and throws a
 * `invalid-update` {@link WeftError} unless it is structurally complete. Yjs integrates an update's structs
 * before it reads its delete set, so a update whose delete set is cut short would otherwise be half applied
 * (SYNC-3.4). Costs a fraction of decoding the update.
 */
export const validateUpdate = (update: Uint8Array, options: ValidateUpdateOptions = {}): UpdateSummary => {
  // Module-level switch (no closure per call); validation is synchronous, so it cannot interleave.
  skipString = options.strings ? checkString : skipBytes
  const d = decoding.createDecoder(update)
  let deleted = 0
  try {
    const clients = decoding.readVarUint(d)
    if (clients > update.length) throw new Error('more clients than bytes')
    for (let c = 0; c < clients; c++) {
      const structs = decoding.readVarUint(d)
      if (structs > update.length) throw new Error('more structs than bytes')
      decoding.readVarUint(d) // client
      decoding.readVarUint(d) // clock
      for (let i = 0; i < structs; i++) {
        const info = readByte(d)
        const ref = info & 0b11111
        if (ref === 0 || ref === 10) {
          const length = decoding.readVarUint(d) // GC / Skip length
          if (ref === 0) deleted += length
          continue
        }
        if (ref > MAX_CONTENT_REF) throw new Error(`unknown content ref ${ref}`)
        const hasOrigin = (info & 0b10000000) !== 0
        const hasRightOrigin = (info & 0b01000000) !== 0
        if (hasOrigin) {
          decoding.readVarUint(d)
          decoding.readVarUint(d)
        }
        if (hasRightOrigin) {
          decoding.readVarUint(d)
          decoding.readVarUint(d)
        }
        if (!hasOrigin && !hasRightOrigin) {
          if (decoding.readVarUint(d) === 1)
            skipString(d) // parent is a root type, by name
          else {
            decoding.readVarUint(d) // parent is an item, by id
            decoding.readVarUint(d)
          }
          if ((info & 0b00100000) !== 0) skipString(d) // parentSub (map key)
        }
        skipContent(d, ref)
      }
    }
    // The delete set.
    const dsClients = decoding.readVarUint(d)
    if (dsClients > update.length) throw new Error('more delete-set clients than bytes')
    for (let c = 0; c < dsClients; c++) {
      decoding.readVarUint(d) // client
      const ranges = decoding.readVarUint(d)
      if (ranges > update.length) throw new Error('more delete ranges than bytes')
      for (let i = 0; i < ranges; i++) {
        decoding.readVarUint(d) // clock
        deleted += decoding.readVarUint(d) // length
      }
    }
    if (d.pos > d.arr.length) throw new Error('unexpected end')
    return { deleted }
  } catch (err) {
    throw new WeftError(
      WeftErrorCode.InvalidUpdate,
      `malformed update: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
}
