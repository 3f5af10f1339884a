import { describe, expect, it } from 'vitest'
import { EncodingKey, SharedMessage } from '../../src/relay/SharedMessage.js'
import { Opcode, encodeFrame, frameOf } from '../../src/ws/frames.js'

describe('frame once, write many', () => {
  it('frameOf builds the same frame as framing the concatenated message, for every header size', () => {
    for (const size of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
      const body = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff)
      const head = Uint8Array.of(0, 2, 9)
      const trailer = Uint8Array.of(1, 2)
      const whole = new Uint8Array(head.length + size + trailer.length)
      whole.set(head, 0)
      whole.set(body, head.length)
      whole.set(trailer, head.length + size)
      const message = new SharedMessage([head, body, trailer])
      expect(message.byteLength).toBe(whole.byteLength)
      expect(Buffer.from(message.bytes()).equals(Buffer.from(whole))).toBe(true)
      const frame = frameOf(message)
      expect(frame.equals(encodeFrame(Opcode.Binary, whole))).toBe(true)
      // Framed once: every later send of the message writes the same bytes (no second frame).
      expect(frameOf(message)).toBe(frame)
    }
  })

  it('each socket implementation caches its own encoding on a shared message, built once', () => {
    const message = new SharedMessage([Uint8Array.of(1, 2), Uint8Array.of(3)])
    const other = new EncodingKey<string>('other')
    let built = 0
    const encode = (m: SharedMessage) => `${++built}:${[...m.bytes()].join(',')}`
    const frame = frameOf(message)
    expect(message.encoded(other, encode)).toBe('1:1,2,3')
    expect(message.encoded(other, encode)).toBe('1:1,2,3')
    expect(frameOf(message)).toBe(frame)
    expect(built).toBe(1)
    expect(message.firstByte).toBe(1)
    expect(new SharedMessage([new Uint8Array(0), Uint8Array.of(9)]).firstByte).toBe(9)
  })
})
