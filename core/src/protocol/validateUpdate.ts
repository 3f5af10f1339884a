import * as decoding from 'lib0/decoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { decodeUtf8, readString, skipBytes } from './checkedDecoding.js'
import { checkJsonDepth } from './jsonDepth.js'
import { ParentLink, UpdateNesting } from './UpdateNesting.js'

/** Highest content ref of an Item in update format V1 (ContentDoc). */
const MAX_CONTENT_REF = 9
/** Type refs (ContentType) Yjs knows: YArray..YXmlText. 3 (XmlElement) and 5 (XmlHook) carry a name. */
const MAX_TYPE_REF = 6
/**
 * Deepest nesting of shared types (a `Y.Map` in a `Y.Map` in ...) that one update may hold (SYNC-3.5). Yjs deletes,
 * garbage-collects and converts nested types recursively: in Node, deleting the outermost of 5,000 nested maps
 * overflows the stack (browsers differ), and no document nests a thousand levels deep on purpose.
 */
export const MAX_NESTING_DEPTH = 1000
/**
 * Deepest nesting of one plain value (SYNC-3.5): an `any` value (a map value, list items: ContentAny), a
 * subdocument's options, and a JSON text (ContentJSON, an embed, a format value). lib0 and `JSON.stringify` walk such
 * values recursively, so how deep a stack can go decides whether a client can read them at all (Node 20 fails from
 * about 4,000-5,000 levels, and a relay's own limit moved with how warm its code was): a value one writer stored
 * deeper would cut every joiner off from the whole document. No app nests its data 256 levels deep on purpose.
 */
export const MAX_VALUE_DEPTH = 256
/** Options a ContentDoc (subdocument) may carry besides `meta`: what `Y.Doc` writes, and `shouldLoad`. */
const SUBDOC_BOOLEAN_OPTIONS = new Set(['gc', 'autoLoad', 'shouldLoad'])

/**
 * Skips a varString and returns its length in UTF-16 code units (a ContentString's clock length) without decoding
 * it: every byte that is not a UTF-8 continuation byte starts a character; a four-byte sequence is two units.
 */
const skipStringUtf16 = (d: decoding.Decoder): number => {
  const len = skipBytes(d)
  let n = 0
  for (let i = d.pos - len; i < d.pos; i++) {
    const b = d.arr[i] as number
    if ((b & 0xc0) !== 0x80) n += b >= 0xf0 ? 2 : 1
  }
  return n
}
/**
 * Skips a varString after checking that it is valid UTF-8, and returns its length in UTF-16 units. An ASCII string
 * (most keys and typed text) is its bytes, checked with one scan; any other is decoded (fatal: invalid bytes throw).
 */
const checkString = (d: decoding.Decoder): number => {
  const len = skipBytes(d)
  const arr = d.arr
  for (let i = d.pos - len; i < d.pos; i++) {
    if ((arr[i] as number) >= 0x80) return decodeUtf8(arr.subarray(d.pos - len, d.pos)).length
  }
  return len
}

/** A varString: skipped, or with `{ strings: true }` decoded as UTF-8. Returns its length in UTF-16 units. */
let readStr: (d: decoding.Decoder) => number = skipStringUtf16

const readByte = (d: decoding.Decoder): number => {
  if (d.pos >= d.arr.length) throw new Error('unexpected end')
  return decoding.readUint8(d)
}

/** A length Yjs would count clocks in: zero-length structs and ranges break its integration (SYNC-3.5). */
const positive = (n: number, what: string): number => {
  if (n === 0) throw new Error(`zero-length ${what}`)
  return n
}

/** Whether the walk skims: contents skipped unchecked (JSON not parsed, `any` values not decoded). */
let skim = false

/** A JSON text: parsed, or skipped when skimming. Refused when it nests deeper than {@link MAX_VALUE_DEPTH}. */
const readJson = (d: decoding.Decoder, undefinedAllowed: boolean): void => {
  if (skim) return void skipBytes(d)
  const text = readString(d)
  checkJsonDepth(text, MAX_VALUE_DEPTH, 'value')
  JSON.parse(undefinedAllowed ? orUndefined(text) : text)
}

/**
 * lib0's `any` encoding (`encoding.writeAny`): its tags, from 127 (undefined) down to 116 (Uint8Array). Refused when
 * arrays and objects nest deeper than {@link MAX_VALUE_DEPTH}; `depth` is the value's own level (1 at the top, where
 * an array or object is one level deep).
 * Unless skimming, strings (values and keys) must be UTF-8, as lib0's reader requires.
 */
const skipAny = (d: decoding.Decoder, depth: number): void => {
  const tag = readByte(d)
  if ((tag === 117 || tag === 118) && depth > MAX_VALUE_DEPTH)
    throw new Error(`value nested deeper than ${MAX_VALUE_DEPTH} levels`)
  switch (tag) {
    case 127: // undefined
    case 126: // null
    case 121: // false
    case 120: // true
      return
    case 125: // integer
      decoding.readVarInt(d)
      return
    case 124: // float32
      d.pos += 4
      return
    case 123: // float64
    case 122: // bigint
      d.pos += 8
      return
    case 119: // string
      if (skim) skipBytes(d)
      else checkString(d)
      return
    case 116: // Uint8Array
      skipBytes(d)
      return
    case 118: {
      // object: key, value pairs
      const len = decoding.readVarUint(d)
      if (len > d.arr.length) throw new Error('more entries than bytes')
      for (let i = 0; i < len; i++) {
        if (skim) skipBytes(d)
        else checkString(d)
        skipAny(d, depth + 1)
      }
      return
    }
    case 117: {
      // array
      const len = decoding.readVarUint(d)
      if (len > d.arr.length) throw new Error('more entries than bytes')
      for (let i = 0; i < len; i++) skipAny(d, depth + 1)
      return
    }
    default:
      throw new Error(`unknown value tag ${tag}`)
  }
}

/** Walks one item's content and returns its length in clock units. */
const skipContent = (d: decoding.Decoder, ref: number): number => {
  switch (ref) {
    case 1: // ContentDeleted
      return positive(decoding.readVarUint(d), 'deleted content')
    case 2: {
      // ContentJSON: len strings (JSON text, or "undefined")
      const len = positive(decoding.readVarUint(d), 'JSON content')
      for (let i = 0; i < len; i++) readJson(d, true)
      return len
    }
    case 3: // ContentBinary
      skipBytes(d)
      return 1
    case 4: // ContentString
      return positive(readStr(d), 'string content')
    case 5: // ContentEmbed
      readJson(d, false)
      return 1
    case 6: // ContentFormat: key, JSON value
      readStr(d)
      readJson(d, false)
      return 1
    case 7: {
      // ContentType
      const typeRef = decoding.readVarUint(d)
      if (typeRef > MAX_TYPE_REF) throw new Error(`unknown type ref ${typeRef}`)
      if (typeRef === 3 || typeRef === 5) readStr(d)
      return 1
    }
    case 8: {
      // ContentAny
      const len = positive(decoding.readVarUint(d), 'any content')
      // Walked, not decoded: bounded depth (lib0's reader recurses without a bound) and no value built.
      for (let i = 0; i < len; i++) skipAny(d, 1)
      return len
    }
    case 9: {
      // ContentDoc: guid, options (decoded once the walk has bounded their depth)
      readStr(d)
      const start = d.pos
      skipAny(d, 1)
      if (!skim) {
        const end = d.pos
        d.pos = start
        checkSubdocOptions(readAny(d))
        if (d.pos !== end) throw new Error('subdocument options misread')
      }
      return 1
    }
    default:
      throw new Error(`unknown content ref ${ref}`)
  }
}

/** Yjs builds the subdocument with `new Y.Doc({ guid, ...options })` and reads `options.shouldLoad` first. */
const checkSubdocOptions = (options: unknown): void => {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error('subdocument options are not an object')
  }
  for (const [key, value] of Object.entries(options)) {
    if (key === 'meta') continue
    if (!SUBDOC_BOOLEAN_OPTIONS.has(key) || typeof value !== 'boolean') {
      throw new Error(`subdocument option ${JSON.stringify(key)} is not allowed`)
    }
  }
}

const readAny = (d: decoding.Decoder): unknown => {
  const value: unknown = decoding.readAny(d)
  if (d.pos > d.arr.length) throw new Error('value runs past the end')
  return value
}

const orUndefined = (s: string): string => (s === 'undefined' ? 'null' : s)

/** One instance for every walk (validation is synchronous, so walks never interleave): no allocation per update. */
const sharedNesting = new UpdateNesting()

/** Options of {@link validateUpdate}. */
export interface ValidateUpdateOptions {
  /**
   * Also decode every string as UTF-8 (default false). A peer that applies updates does not need it (Yjs refuses
   * invalid UTF-8 before integrating anything); a relay that stores and forwards updates without applying them
   * does, or it would store bytes its clients cannot read.
   */
  readonly strings?: boolean
  /**
   * Also return the update's delete set ({@link UpdateSummary.deleteSet}), read on the same walk (default false): a
   * peer that keeps what others deleted (a rollback, RULES-5.3) then decodes the update only to apply it.
   */
  readonly deleteSet?: boolean
  /**
   * Also return the clock ranges of the update's structs ({@link UpdateSummary.clocks}), read on the same walk
   * (default false): whether an update needs clocks a document lacks is then known without decoding it (RULES-4.8).
   */
  readonly clocks?: boolean
  /**
   * Skim (default false): item contents are skipped unchecked (JSON not parsed, `any` values not decoded, strings not
   * decoded whatever `strings` says), for a caller that only needs the {@link UpdateSummary.clocks} or the delete set
   * of an update validated before. Costs a fraction of decoding the update, however large its values.
   */
  readonly skim?: boolean
}

/** What {@link validateUpdate} learned on its walk. */
export interface UpdateSummary {
  /**
   * Clock units the update marks deleted (its delete set) or carries as garbage-collected ranges: 0 means the
   * update holds no deleted content, so rebuilding it through a garbage-collecting `Y.Doc` would drop nothing.
   */
  readonly deleted: number
  /** Deepest nesting of shared types built within the update (0: it creates no nested type). */
  readonly depth: number
  /**
   * With `{ deleteSet: true }`: the update's delete set, per client its `{ clock, len }` ranges as the update lists
   * them (not necessarily sorted or merged); otherwise undefined.
   */
  readonly deleteSet?: Map<number, Array<{ clock: number; len: number }>>
  /**
   * With `{ clocks: true }`: the update's runs of contiguous structs (items and garbage-collected ranges; a skip
   * struct ends a run), in the update's order, flat as `client, first clock, end clock` triples; otherwise undefined.
   */
  readonly clocks?: readonly number[]
}

/**
 * Walks a Yjs update (format V1, the one y-protocols sends) without building anything, and throws a
 * `invalid-update` {@link WeftError} unless it is structurally complete (SYNC-3.4) and free of what Yjs cannot
 * merge or apply (SYNC-3.5): zero-length structs or delete ranges, an item whose origin, right origin or parent lies
 * at or after itself in its own client's clock, subdocument options that are not a plain object of known options,
 * nesting deeper than {@link MAX_NESTING_DEPTH}. Yjs integrates an update's structs before it reads its delete set,
 * so a update whose delete set is cut short would otherwise be half applied. Costs a fraction of decoding the update.
 */
export const validateUpdate = (update: Uint8Array, options: ValidateUpdateOptions = {}): UpdateSummary => {
  // Module-level switch (no closure per call); validation is synchronous, so it cannot interleave.
  skim = options.skim ?? false
  readStr = options.strings && !skim ? checkString : skipStringUtf16
  const d = decoding.createDecoder(update)
  let deleted = 0
  const runs: number[] | undefined = options.clocks ? [] : undefined
  const nesting = sharedNesting
  nesting.reset()
  try {
    const clients = decoding.readVarUint(d)
    if (clients > update.length) throw new Error('more clients than bytes')
    for (let c = 0; c < clients; c++) {
      const structs = decoding.readVarUint(d)
      if (structs > update.length) throw new Error('more structs than bytes')
      const client = decoding.readVarUint(d)
      let clock = decoding.readVarUint(d)
      /** Where the current run of contiguous structs started (-1: none yet, or after a skip). */
      let run = -1
      nesting.startClient(client)
      for (let i = 0; i < structs; i++) {
        const info = readByte(d)
        const ref = info & 0b11111
        if (ref === 0 || ref === 10) {
          // Yjs's readers disagree on flag bits here: one takes `info & 31`, the merge takes only exactly 10 as skip.
          if (info !== ref) throw new Error(`${ref === 0 ? 'GC' : 'skip'} struct with flag bits`)
          const length = positive(decoding.readVarUint(d), ref === 0 ? 'GC struct' : 'skip struct')
          if (ref === 0) {
            deleted += length
            if (run < 0) run = clock
          } else if (runs && run >= 0) {
            runs.push(client, run, clock)
            run = -1
          }
          clock += length
          continue
        }
        if (run < 0) run = clock
        if (ref > MAX_CONTENT_REF) throw new Error(`unknown content ref ${ref}`)
        const hasOrigin = (info & 0b10000000) !== 0
        const hasRightOrigin = (info & 0b01000000) !== 0
        // A reference into the item's own client must point before it: Yjs takes the item's own client as present.
        let link: ParentLink = ParentLink.Root
        let refClient = 0
        let refClock = 0
        if (hasOrigin) {
          link = ParentLink.Origin
          refClient = decoding.readVarUint(d)
          refClock = decoding.readVarUint(d)
          if (refClient === client && refClock >= clock) throw new Error('item refers to itself or later')
        }
        if (hasRightOrigin) {
          const rightClient = decoding.readVarUint(d)
          const rightClock = decoding.readVarUint(d)
          if (rightClient === client && rightClock >= clock) throw new Error('item refers to itself or later')
          if (!hasOrigin) {
            link = ParentLink.Right
            refClient = rightClient
            refClock = rightClock
          }
        }
        if (!hasOrigin && !hasRightOrigin) {
          if (decoding.readVarUint(d) === 1) {
            readStr(d) // parent is a root type, by name
          } else {
            // parent is an item, by id
            link = ParentLink.Item
            refClient = decoding.readVarUint(d)
            refClock = decoding.readVarUint(d)
            if (refClient === client && refClock >= clock) throw new Error('item refers to itself or later')
          }
          if ((info & 0b00100000) !== 0) readStr(d) // parentSub (map key)
        }
        const length = skipContent(d, ref)
        nesting.item(clock, length, ref === 7, link, refClient, refClock)
        clock += length
      }
      if (runs && run >= 0) runs.push(client, run, clock)
    }
    // The delete set.
    const deleteSet = options.deleteSet ? new Map<number, Array<{ clock: number; len: number }>>() : undefined
    const dsClients = decoding.readVarUint(d)
    if (dsClients > update.length) throw new Error('more delete-set clients than bytes')
    for (let c = 0; c < dsClients; c++) {
      const client = decoding.readVarUint(d)
      const ranges = decoding.readVarUint(d)
      if (ranges > update.length) throw new Error('more delete ranges than bytes')
      let list: Array<{ clock: number; len: number }> | undefined
      if (deleteSet && ranges > 0) {
        list = deleteSet.get(client)
        if (!list) deleteSet.set(client, (list = []))
      }
      for (let i = 0; i < ranges; i++) {
        const clock = decoding.readVarUint(d)
        const len = positive(decoding.readVarUint(d), 'delete range')
        deleted += len
        list?.push({ clock, len })
      }
    }
    if (d.pos > d.arr.length) throw new Error('unexpected end')
    const depth = nesting.depth()
    if (depth > MAX_NESTING_DEPTH)
      throw new Error(`types nested ${depth} deep (at most ${MAX_NESTING_DEPTH})`)
    if (!deleteSet && !runs) return { deleted, depth }
    return { deleted, depth, ...(deleteSet && { deleteSet }), ...(runs && { clocks: runs }) }
  } catch (err) {
    throw new WeftError(
      WeftErrorCode.InvalidUpdate,
      `malformed update: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
}
