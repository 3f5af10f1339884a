import { describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import {
  decodeMessage,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  splitMessage,
} from '@weft/core/protocol'
import { HandshakeEcho } from '../../src/workspace/handshakeEcho.js'

/** A V1 update with no struct and `n` separate deletions of client 7 (a catalogue's delete set, ~3 bytes each). */
const deletions = (n: number): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0) // no struct
  encoding.writeVarUint(e, 1) // one client in the delete set
  encoding.writeVarUint(e, 7)
  encoding.writeVarUint(e, n)
  for (let i = 0; i < n; i++) {
    encoding.writeVarUint(e, 1000 + 3 * i)
    encoding.writeVarUint(e, 1)
  }
  return encoding.toUint8Array(e)
}

const CHUNK = 16 * 1024

describe('HandshakeEcho with a chunked step 2', () => {
  it('WS-CLIENT-LINK-9: a step 2 the session sends in chunks waits for the relay’s step 2 and goes out as one empty step 2 when the relay holds its deletions', () => {
    const ds = deletions(12_000)
    const chunks = splitMessage(encodeSyncStep2(ds, 4, null), CHUNK, 1)
    expect(chunks.length).toBeGreaterThan(1)
    const echo = new HandshakeEcho()
    for (const c of chunks) expect(echo.outgoing(c)).toEqual([])
    expect(echo.incoming(encodeSyncStep1(new Uint8Array([0]), null))).toEqual([])
    const out = echo.incoming(encodeSyncStep2(ds, null, null))
    expect(out).toHaveLength(1)
    const sent = decodeMessage(out[0] as Uint8Array)
    expect(sent).toMatchObject({ type: 'sync-step2', seq: 4 })
    expect(sent.type === 'sync-step2' && Array.from(sent.update)).toEqual([0, 0])
  })

  it('WS-CLIENT-LINK-9: a chunked step 2 with deletions the relay lacks goes out as its chunks, in order; one completed after the relay’s step 2 is judged at once', () => {
    const ds = deletions(12_000)
    const chunks = splitMessage(encodeSyncStep2(ds, 5, null), CHUNK, 2)
    const echo = new HandshakeEcho()
    for (const c of chunks) expect(echo.outgoing(c)).toEqual([])
    expect(echo.incoming(encodeSyncStep2(new Uint8Array([0, 0]), null, null))).toEqual(chunks)

    // The relay's step 2 first (holding the deletions): the chunks complete after it, and are judged at once.
    const late = new HandshakeEcho()
    expect(late.incoming(encodeSyncUpdate(ds, null, null))).toEqual([])
    expect(late.incoming(encodeSyncStep2(new Uint8Array([0, 0]), null, null))).toEqual([])
    const [first, ...rest] = splitMessage(encodeSyncStep2(ds, 6, null), CHUNK, 3)
    expect(late.outgoing(first as Uint8Array)).toEqual([])
    const out = rest.flatMap((c) => late.outgoing(c))
    expect(out).toHaveLength(1)
    expect(decodeMessage(out[0] as Uint8Array)).toMatchObject({ type: 'sync-step2', seq: 6 })
  })

  it('WS-CLIENT-LINK-9: chunks of anything else go out when their message is complete, in order with what follows', () => {
    const ds = deletions(12_000)
    const echo = new HandshakeEcho()
    const big = splitMessage(encodeSyncUpdate(ds, 9, null), CHUNK, 4)
    const sent = big.flatMap((c) => echo.outgoing(c))
    expect(sent).toEqual(big)
    const update = encodeSyncUpdate(new Uint8Array([0, 0]), 10, null)
    expect(echo.outgoing(update)).toEqual([update])
  })
})
