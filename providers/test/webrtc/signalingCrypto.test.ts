import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { toBase64, fromBase64 } from 'lib0/buffer'
import { describe, expect, it } from 'vitest'
import { decryptSignal, deriveRoomKey, encryptSignal } from '../../src/webrtc/signalingCrypto.js'

/** y-webrtc 10.3's own crypto module (not exported by the package: loaded from its file). */
interface StockCrypto {
  deriveKey(secret: string, room: string): PromiseLike<CryptoKey>
  encryptJson(data: unknown, key: CryptoKey): PromiseLike<Uint8Array>
  decryptJson(data: Uint8Array, key: CryptoKey): PromiseLike<unknown>
}
const stockCryptoPath = join(
  dirname(createRequire(import.meta.url).resolve('y-webrtc')),
  '..',
  'src',
  'crypto.js',
)
const stock = (await import(pathToFileURL(stockCryptoPath).href)) as StockCrypto

const signal = {
  to: 'b',
  from: 'a',
  type: 'signal',
  token: 1795303344836.3904,
  signal: {
    type: 'candidate',
    candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMLineIndex: 0, sdpMid: '0' },
  },
}

describe('signaling encryption, y-webrtc compatible', () => {
  it('what Weft encrypts, y-webrtc decrypts (same password and room)', async () => {
    const [ours, theirs] = await Promise.all([deriveRoomKey('pw', 'room-1'), stock.deriveKey('pw', 'room-1')])
    const sealed = await encryptSignal(signal, ours)
    expect(await stock.decryptJson(fromBase64(sealed), theirs)).toEqual(signal)
  })

  it('what y-webrtc encrypts, Weft decrypts', async () => {
    const [ours, theirs] = await Promise.all([deriveRoomKey('pw', 'room-1'), stock.deriveKey('pw', 'room-1')])
    const sealed = toBase64(await stock.encryptJson({ type: 'announce', from: 'x' }, theirs))
    expect(await decryptSignal(sealed, ours)).toEqual({ type: 'announce', from: 'x' })
  })

  it('another password, another room, or garbage decrypt to undefined (ignored), never throw', async () => {
    const key = await deriveRoomKey('pw', 'room-1')
    const sealed = await encryptSignal(signal, key)
    expect(await decryptSignal(sealed, await deriveRoomKey('other', 'room-1'))).toBeUndefined()
    expect(await decryptSignal(sealed, await deriveRoomKey('pw', 'room-2'))).toBeUndefined()
    expect(await decryptSignal('not base64 at all!', key)).toBeUndefined()
    expect(await decryptSignal(toBase64(new Uint8Array([3, 1, 2])), key)).toBeUndefined()
  })

  it('each message gets a fresh IV: equal messages encrypt differently', async () => {
    const key = await deriveRoomKey('pw', 'room-1')
    expect(await encryptSignal(signal, key)).not.toBe(await encryptSignal(signal, key))
  })
})
