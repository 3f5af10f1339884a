import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

/**
 * One part of a sliced Yjs update: a V2 update holding consecutive structs of one client, or deletion ranges of one
 * client. Applying every part of an update (in any order: Yjs keeps what arrives early pending) gives the state the
 * whole update gives.
 */
export interface UpdatePart {
  /** The part, a V2 update. */
  readonly update: Uint8Array
  /** The client whose structs or deletions it holds. */
  readonly client: number
  /** Whether it holds deletions only (applied after the structs of its update). */
  readonly deletions: boolean
  /** Structs or deletion ranges it holds. */
  readonly count: number
  /**
   * Clocks of other clients its items refer to (origins, parents): client → the clock that client's state must
   * reach for the part to integrate at once instead of waiting pending.
   */
  readonly needs: ReadonlyMap<number, number>
}

type Decoder = Y.UpdateDecoderV1 | Y.UpdateDecoderV2

/** A part being written. */
interface OpenPart {
  readonly e: Y.UpdateEncoderV2
  readonly client: number
  readonly deletions: boolean
  readonly needs: Map<number, number>
  count: number
  left: number
}

/** Yjs's struct info bits: an origin, a right origin, a parent sub-key; the low 5 bits are the content ref. */
const HAS_ORIGIN = 0x80
const HAS_RIGHT_ORIGIN = 0x40
const HAS_PARENT_SUB = 0x20
const CONTENT = 0x1f
/** Type refs whose content carries a key (XML element name, hook name). */
const KEYED_TYPES = new Set([3, 5])

/**
 * Cuts a Yjs update (V1 or V2) into {@link UpdatePart}s of at most `partSize` structs or deletion ranges, a bounded
 * amount of work per {@link step}, so that a large stored document can be applied across several tasks instead
 * of in one `Y.applyUpdate`. Every struct is copied field by field, in Yjs's own update format (the decoders and
 * encoders Yjs exports, the struct layout of its `readClientsStructRefs`); no content is interpreted. Yjs exports
 * no way to cut an update at a clock (`diffUpdate` keeps everything after a state vector). Throws on malformed
 * input, as `Y.applyUpdate` does. @internal
 */
export class UpdateSlicer {
  readonly #d: Decoder
  readonly #partSize: number
  #clients = -1
  #client = 0
  #clock = 0
  /** Structs (or deletion ranges) of the current client not read yet. */
  #left = 0
  #inDeletions = false
  #done = false
  #read = 0
  #part: OpenPart | null = null

  constructor(update: Uint8Array, v2: boolean, partSize: number) {
    const raw = decoding.createDecoder(update)
    this.#d = v2 ? new Y.UpdateDecoderV2(raw) : new Y.UpdateDecoderV1(raw)
    this.#partSize = Math.max(1, partSize)
  }

  /** Whether every part was returned. */
  get done(): boolean {
    return this.#done
  }

  /** Structs and deletion ranges read so far. */
  get read(): number {
    return this.#read
  }

  /** Reads up to `budget` structs or deletion ranges (at least one); returns the parts completed meanwhile. */
  step(budget: number): UpdatePart[] {
    const out: UpdatePart[] = []
    const d = this.#d
    let spent = 0
    while (!this.#done && (spent < budget || spent === 0)) {
      if (this.#clients < 0) this.#clients = decoding.readVarUint(d.restDecoder)
      if (this.#left === 0) {
        if (this.#clients === 0) {
          if (this.#inDeletions) {
            this.#done = true
            break
          }
          this.#inDeletions = true
          this.#clients = decoding.readVarUint(d.restDecoder)
          continue
        }
        this.#clients--
        if (this.#inDeletions) {
          d.resetDsCurVal()
          this.#client = decoding.readVarUint(d.restDecoder)
        } else {
          this.#left = decoding.readVarUint(d.restDecoder)
          this.#client = d.readClient()
          this.#clock = decoding.readVarUint(d.restDecoder)
          continue
        }
        this.#left = decoding.readVarUint(d.restDecoder)
        continue
      }
      const part = (this.#part ??= this.#open())
      if (part.deletions) {
        part.e.writeDsClock(d.readDsClock())
        part.e.writeDsLen(d.readDsLen())
      } else this.#clock += this.#copyStruct(part.e, part.needs)
      part.count++
      part.left--
      this.#left--
      spent++
      this.#read++
      if (part.left === 0) {
        // A part with structs ends with an empty delete set.
        if (!part.deletions) encoding.writeVarUint(part.e.restEncoder, 0)
        out.push({
          update: part.e.toUint8Array(),
          client: part.client,
          deletions: part.deletions,
          count: part.count,
          needs: part.needs,
        })
        this.#part = null
      }
    }
    return out
  }

  #open(): OpenPart {
    const e = new Y.UpdateEncoderV2()
    const n = Math.min(this.#partSize, this.#left)
    if (this.#inDeletions) {
      encoding.writeVarUint(e.restEncoder, 0) // no structs
      encoding.writeVarUint(e.restEncoder, 1) // one client's deletions
      e.resetDsCurVal()
      encoding.writeVarUint(e.restEncoder, this.#client)
      encoding.writeVarUint(e.restEncoder, n)
    } else {
      encoding.writeVarUint(e.restEncoder, 1)
      encoding.writeVarUint(e.restEncoder, n)
      e.writeClient(this.#client)
      encoding.writeVarUint(e.restEncoder, this.#clock)
    }
    return { e, client: this.#client, count: 0, left: n, deletions: this.#inDeletions, needs: new Map() }
  }

  /** Copies one struct from the source to `e`; returns its length (clocks). */
  #copyStruct(e: Y.UpdateEncoderV2, needs: Map<number, number>): number {
    const d = this.#d
    const need = (id: Y.ID): void => {
      if (id.client !== this.#client && (needs.get(id.client) ?? 0) <= id.clock)
        needs.set(id.client, id.clock + 1)
    }
    const info = d.readInfo()
    const ref = info & CONTENT
    if (ref === 0) {
      // GC
      const len = d.readLen()
      e.writeInfo(info)
      e.writeLen(len)
      return len
    }
    if (ref === 10) {
      // Skip
      const len = decoding.readVarUint(d.restDecoder)
      e.writeInfo(info)
      encoding.writeVarUint(e.restEncoder, len)
      return len
    }
    e.writeInfo(info)
    if (info & HAS_ORIGIN) {
      const id = d.readLeftID()
      need(id)
      e.writeLeftID(id)
    }
    if (info & HAS_RIGHT_ORIGIN) {
      const id = d.readRightID()
      need(id)
      e.writeRightID(id)
    }
    if ((info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN)) === 0) {
      const named = d.readParentInfo()
      e.writeParentInfo(named)
      if (named) e.writeString(d.readString())
      else {
        const id = d.readLeftID()
        need(id)
        e.writeLeftID(id)
      }
      if (info & HAS_PARENT_SUB) e.writeString(d.readString())
    }
    switch (ref) {
      case 1: {
        // deleted
        const len = d.readLen()
        e.writeLen(len)
        return len
      }
      case 2: {
        // JSON
        const len = d.readLen()
        e.writeLen(len)
        for (let i = 0; i < len; i++) e.writeString(d.readString())
        return len
      }
      case 3:
        e.writeBuf(d.readBuf())
        return 1
      case 4: {
        const s = d.readString()
        e.writeString(s)
        return s.length
      }
      case 5:
        e.writeJSON(d.readJSON())
        return 1
      case 6:
        e.writeKey(d.readKey())
        e.writeJSON(d.readJSON())
        return 1
      case 7: {
        const type = d.readTypeRef()
        e.writeTypeRef(type)
        if (KEYED_TYPES.has(type)) e.writeKey(d.readKey())
        return 1
      }
      case 8: {
        // any
        const len = d.readLen()
        e.writeLen(len)
        for (let i = 0; i < len; i++) e.writeAny(d.readAny())
        return len
      }
      case 9:
        // subdocument
        e.writeString(d.readString())
        e.writeAny(d.readAny())
        return 1
      default:
        throw new Error(`unknown Yjs content ref ${ref}`)
    }
  }
}
