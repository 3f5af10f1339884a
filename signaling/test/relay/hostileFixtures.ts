import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'

/**
 * Updates from the reproductions of issue 17 ("Hostile writers"), written byte by byte: each passed the relay's
 * validation before SYNC-3.5, and each breaks Yjs when merged or applied.
 */
const craft = (client: number, write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // one client
  encoding.writeVarUint(e, 1) // one struct
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 0) // clock
  write(e)
  encoding.writeVarUint(e, 0) // empty delete set
  return encoding.toUint8Array(e)
}

/** A subdocument in root map `m` whose options are `null`: `Y.mergeUpdates` throws a TypeError. */
export const nullSubdocOptions = (client = 666): Uint8Array =>
  craft(client, (e) => {
    encoding.writeUint8(e, 9 | 0x20)
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, 'm')
    encoding.writeVarString(e, 'k')
    encoding.writeVarString(e, 'guid')
    encoding.writeAny(e, null)
  })

/**
 * A value of root map `m` (ContentAny) that nests `depth` arrays, written without recursion. Over `MAX_VALUE_DEPTH`
 * (SYNC-3.5): clients decode it recursively, and a warmed-up relay accepted one 5,500 deep (outside review R1).
 */
export const deepValue = (depth: number, client = 670): Uint8Array =>
  craft(client, (e) => {
    encoding.writeUint8(e, 8 | 0x20)
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, 'm')
    encoding.writeVarString(e, 'k')
    encoding.writeVarUint(e, 1) // one value
    for (let i = 0; i < depth; i++) {
      encoding.writeUint8(e, 117) // an array of one
      encoding.writeVarUint(e, 1)
    }
    encoding.writeUint8(e, 126) // null
  })

/** A deleted-content item of length 0 in root array `a`: merges, but `Y.applyUpdate` throws. */
export const zeroLengthDeleted = (client = 667): Uint8Array =>
  craft(client, (e) => {
    encoding.writeUint8(e, 1)
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, 'a')
    encoding.writeVarUint(e, 0)
  })

/** A string item whose origin is itself: merges, but `Y.applyUpdate` throws. */
export const selfOrigin = (client = 668): Uint8Array =>
  craft(client, (e) => {
    encoding.writeUint8(e, 4 | 0x80)
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, 0)
    encoding.writeVarString(e, 'ab')
  })

/** `depth` nested `Y.Map`s from an ordinary document with GC off, and the deletion of the outermost one. */
export const deepNesting = (
  depth = 20_000,
): { readonly nested: Uint8Array; readonly deletion: Uint8Array } => {
  const doc = new Y.Doc({ gc: false })
  doc.clientID = 669
  let map = doc.getMap<unknown>('deep')
  doc.transact(() => {
    for (let i = 0; i < depth; i++) {
      const next = new Y.Map<unknown>()
      map.set('k', next)
      map = next
    }
  })
  const nested = Y.encodeStateAsUpdate(doc)
  // The deletion as a delete set only (deleting in this process would overflow the stack).
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, 669)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 1)
  return { nested, deletion: encoding.toUint8Array(e) }
}

/** A one-character insertion into root text `t` by `client` at clock `clock` (no origin: appended at the start). */
export const tinyUpdate = (client: number, clock: number): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, clock)
  if (clock === 0) {
    encoding.writeUint8(e, 4)
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, 't')
  } else {
    encoding.writeUint8(e, 4 | 0x80)
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, clock - 1)
  }
  encoding.writeVarString(e, 'x')
  encoding.writeVarUint(e, 0)
  return encoding.toUint8Array(e)
}
