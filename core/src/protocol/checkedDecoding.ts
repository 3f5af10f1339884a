import * as decoding from 'lib0/decoding'

/**
 * lib0's `readVarUint8Array`/`readVarString` do not check that the declared length fits in the buffer (a truncated
 * message silently yields a shorter value). These do, and throw.
 */
export const readBytes = (d: decoding.Decoder): Uint8Array => {
  const len = decoding.readVarUint(d)
  if (d.pos + len > d.arr.length) throw new Error(`length ${len} runs past the end of the message`)
  return decoding.readUint8Array(d, len)
}

/** Checked `readVarString` (see {@link readBytes}); also rejects invalid UTF-8. */
export const readString = (d: decoding.Decoder): string => decodeUtf8(readBytes(d))

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Decodes UTF-8, throwing on invalid bytes (no replacement characters). */
export const decodeUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)

/** Skips a length-prefixed byte run, checked; returns its length. */
export const skipBytes = (d: decoding.Decoder): number => {
  const len = decoding.readVarUint(d)
  if (d.pos + len > d.arr.length) throw new Error(`length ${len} runs past the end of the message`)
  d.pos += len
  return len
}
