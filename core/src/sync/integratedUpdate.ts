import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import type { DeleteSet } from './rollback.js'

/**
 * SYNC-3.7: a V1 update of the document's structs from `from` (per client, up to the client's current clock) and the
 * deletions `deletions`, without the rest of the document's delete set (`Y.encodeStateAsUpdate` always writes the
 * whole of it, and Yjs has no API for structs alone). Structs are written the way Yjs writes them (higher client ids
 * first, the first struct cut at its clock).
 */
export const encodeIntegrated = (
  doc: Y.Doc,
  from: ReadonlyMap<number, number>,
  deletions: DeleteSet | null,
): Uint8Array => {
  const encoder = new Y.UpdateEncoderV1()
  const out = encoder.restEncoder
  const clients = [...from].filter(([client, clock]) => Y.getState(doc.store, client) > clock)
  clients.sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(out, clients.length)
  for (const [client, clock] of clients) {
    const structs = doc.store.clients.get(client) ?? []
    const start = Y.findIndexSS(structs, clock)
    encoding.writeVarUint(out, structs.length - start)
    encoder.writeClient(client)
    encoding.writeVarUint(out, clock)
    structs[start]?.write(encoder, clock - (structs[start]?.id.clock ?? clock))
    for (let i = start + 1; i < structs.length; i++) structs[i]?.write(encoder, 0)
  }
  const ds = deletions === null ? [] : [...deletions.clients].filter(([, items]) => items.length > 0)
  encoding.writeVarUint(out, ds.length)
  for (const [client, items] of ds) {
    encoding.writeVarUint(out, client)
    encoding.writeVarUint(out, items.length)
    for (const item of items) {
      encoder.writeDsClock(item.clock)
      encoder.writeDsLen(item.len)
    }
  }
  return encoder.toUint8Array()
}
