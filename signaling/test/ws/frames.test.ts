import { describe, expect, it } from 'vitest'
import { Opcode, encodeFrame, framedOf, preframe, preframeParts } from '../../src/ws/frames.js'

describe('frame once, write many', () => {
  it('preframeParts builds the same frame as framing the concatenated message, for every header size', () => {
    for (const size of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
      const body = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff)
      const head = Uint8Array.of(0, 2, 9)
      const trailer = Uint8Array.of(1, 2)
      const whole = new Uint8Array(head.length + size + trailer.length)
      whole.set(head, 0)
      whole.set(body, head.length)
      whole.set(trailer, head.length + size)
      const view = preframeParts([head, body, trailer])
      expect(Buffer.from(view).equals(Buffer.from(whole))).toBe(true)
      const frame = framedOf(view)
      expect(frame?.equals(encodeFrame(Opcode.Binary, whole))).toBe(true)
      // Framing a framed view again returns it unchanged (no second copy).
      expect(preframe(view)).toBe(view)
    }
  })

  it('a message that was not preframed has no frame', () => {
    expect(framedOf(Uint8Array.of(1, 2, 3))).toBeUndefined()
  })
})
