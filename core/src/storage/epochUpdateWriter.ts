import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'

type Content = Y.Item['content']

/** Where a re-applied item lives when it has neither origin nor right origin (Yjs writes its parent then). */
export type ParentRef = { readonly root: string } | { readonly id: Y.ID }

/** One item to write with a chosen id. */
export interface ItemStruct {
  readonly origin: Y.ID | null
  readonly rightOrigin: Y.ID | null
  /** Needed only when `origin` and `rightOrigin` are both null. */
  readonly parent: ParentRef | null
  readonly parentSub: string | null
  readonly content: Content
}

type Struct = { readonly gc: number } | ItemStruct

// Info byte flags and struct refs, as in Yjs' Item.write / GC.write (yjs/src/structs/Item.js).
const BIT8 = 0x80 // origin present
const BIT7 = 0x40 // right origin present
const BIT6 = 0x20 // parentSub present
const BITS5 = 0x1f
const GC_REF = 0

/**
 * Builds a Yjs **V1** update holding items with chosen ids (COMPACT-5.3: Yjs has no API to create an item with a
 * given id). Structs of a client must be added in clock order and contiguously from the first clock given for that
 * client; the delete set may be added in any order.
 */
export class EpochUpdateWriter {
  readonly #clients = new Map<number, { start: number; next: number; structs: Struct[] }>()
  readonly #deletes = new Map<number, [clock: number, len: number][]>()

  /** Adds an item at `(client, clock)` whose length is its content's. */
  item(client: number, clock: number, item: ItemStruct): void {
    this.#push(client, clock, item.content.getLength(), item)
  }

  /** Adds `length` garbage-collected clocks at `(client, clock)` (content absent from the new epoch). */
  gc(client: number, clock: number, length: number): void {
    this.#push(client, clock, length, { gc: length })
  }

  /** Marks `(client, clock .. clock + length - 1)` deleted. */
  delete(client: number, clock: number, length: number): void {
    if (length <= 0) return
    let ranges = this.#deletes.get(client)
    if (!ranges) this.#deletes.set(client, (ranges = []))
    ranges.push([clock, length])
  }

  /** True when nothing was added. */
  get empty(): boolean {
    return this.#clients.size === 0 && this.#deletes.size === 0
  }

  /** The V1 update: structs (higher client ids first, like Yjs), then the delete set. */
  toUpdate(): Uint8Array {
    const encoder = new Y.UpdateEncoderV1()
    const out = encoder.restEncoder
    const clients = [...this.#clients.entries()].sort((a, b) => b[0] - a[0])
    encoding.writeVarUint(out, clients.length)
    for (const [client, { start, structs }] of clients) {
      encoding.writeVarUint(out, structs.length)
      encoder.writeClient(client)
      encoding.writeVarUint(out, start)
      for (const s of structs) {
        if ('gc' in s) {
          encoder.writeInfo(GC_REF)
          encoder.writeLen(s.gc)
        } else {
          this.#writeItem(encoder, s)
        }
      }
    }
    const deletes = [...this.#deletes.entries()].sort((a, b) => b[0] - a[0])
    encoding.writeVarUint(out, deletes.length)
    for (const [client, ranges] of deletes) {
      const merged = mergeRanges(ranges)
      encoding.writeVarUint(out, client)
      encoding.writeVarUint(out, merged.length)
      for (const [clock, len] of merged) {
        encoder.writeDsClock(clock)
        encoder.writeDsLen(len)
      }
    }
    return encoder.toUint8Array()
  }

  #push(client: number, clock: number, length: number, struct: Struct): void {
    let entry = this.#clients.get(client)
    if (!entry) this.#clients.set(client, (entry = { start: clock, next: clock, structs: [] }))
    if (entry.next !== clock)
      throw new WeftError(
        WeftErrorCode.InvalidArgument,
        `epoch update: client ${client} needs clock ${entry.next}, got ${clock}`,
      )
    entry.structs.push(struct)
    entry.next += length
  }

  #writeItem(encoder: Y.UpdateEncoderV1, s: ItemStruct): void {
    const info =
      (s.content.getRef() & BITS5) |
      (s.origin === null ? 0 : BIT8) |
      (s.rightOrigin === null ? 0 : BIT7) |
      (s.parentSub === null ? 0 : BIT6)
    encoder.writeInfo(info)
    if (s.origin !== null) encoder.writeLeftID(s.origin)
    if (s.rightOrigin !== null) encoder.writeRightID(s.rightOrigin)
    if (s.origin === null && s.rightOrigin === null) {
      const parent = s.parent
      if (parent === null)
        throw new WeftError(
          WeftErrorCode.InvalidArgument,
          'epoch update: an item without origins needs a parent',
        )
      if ('root' in parent) {
        encoder.writeParentInfo(true)
        encoder.writeString(parent.root)
      } else {
        encoder.writeParentInfo(false)
        encoder.writeLeftID(parent.id)
      }
      if (s.parentSub !== null) encoder.writeString(s.parentSub)
    }
    s.content.write(encoder, 0)
  }
}

/** Sorts and merges overlapping or adjacent ranges. */
const mergeRanges = (ranges: [number, number][]): [number, number][] => {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: [number, number][] = []
  for (const [clock, len] of sorted) {
    const last = out.at(-1)
    if (last && clock <= last[0] + last[1]) last[1] = Math.max(last[1], clock + len - last[0])
    else out.push([clock, len])
  }
  return out
}
