import { afterEach, describe, expect, it, vi } from 'vitest'
import { RtcPeer } from '../../src/webrtc/RtcPeer.js'

// RtcPeer's send path against a fake RTCPeerConnection that counts reads of the properties that are blocking calls
// into the WebRTC threads in node-webrtc (`bufferedAmount`, `readyState`, `sctp`): an edit's message must not pay
// for them (bench/webrtc.bench.ts measured ~0.1 ms per send before), while flow control and the vanished-peer check
// still hold.

const KiB = 1024
const reads = { bufferedAmount: 0, readyState: 0, sctp: 0 }

class FakeChannel {
  binaryType = 'blob'
  bufferedAmountLowThreshold = 0
  onopen: (() => void) | null = null
  onclose: (() => void) | null = null
  onerror: (() => void) | null = null
  onmessage: ((e: { data: unknown }) => void) | null = null
  state = 'connecting'
  /** Bytes handed to the channel and not yet "sent on the wire". */
  buffered = 0
  readonly sent: Uint8Array[] = []
  failWith: Error | null = null
  get readyState(): string {
    reads.readyState++
    return this.state
  }
  get bufferedAmount(): number {
    reads.bufferedAmount++
    return this.buffered
  }
  send(data: Uint8Array): void {
    if (this.failWith) throw this.failWith
    this.sent.push(data)
    this.buffered += data.length
  }
  close(): void {
    this.state = 'closed'
  }
}

let channel: FakeChannel
let pc: FakePc
class FakePc {
  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    pc = this
  }
  onicecandidate = null
  oniceconnectionstatechange = null
  onconnectionstatechange = null
  ondatachannel = null
  localDescription: { type: string; sdp: string } | null = null
  remoteDescription = null
  maxMessageSize = 256 * KiB
  get sctp(): { maxMessageSize: number } {
    reads.sctp++
    return { maxMessageSize: this.maxMessageSize }
  }
  createDataChannel(): FakeChannel {
    channel = new FakeChannel()
    return channel
  }
  createOffer() {
    return Promise.resolve({ type: 'offer', sdp: 'v=0' })
  }
  setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d
    return Promise.resolve()
  }
  statsCalls = 0
  /** ICE check counters that never change (a vanished peer); none at all when `stats` is false. */
  stats = false
  getStats() {
    this.statsCalls++
    const pair = { type: 'candidate-pair', requestsReceived: 7, responsesReceived: 7, bytesReceived: 700 }
    return Promise.resolve(new Map(this.stats ? [['pair', pair]] : []))
  }
  close(): void {}
}

const openPeer = (peerTimeout = 0): RtcPeer => {
  const peer = new RtcPeer({
    RTCPeerConnection: FakePc as unknown as typeof RTCPeerConnection,
    config: {},
    initiator: true,
    peerTimeout,
    silenceTimeout: 0,
  })
  channel.state = 'open'
  channel.onopen?.()
  expect(peer.connected).toBe(true)
  reads.bufferedAmount = reads.readyState = reads.sctp = 0
  return peer
}

afterEach(() => {
  vi.useRealTimers()
})

describe('RtcPeer send path', () => {
  it('sends small messages without reading bufferedAmount, readyState or the SCTP limit for each', () => {
    const peer = openPeer()
    for (let i = 0; i < 1000; i++) expect(peer.send(new Uint8Array(40))).toBe(true)
    expect(channel.sent).toHaveLength(1000)
    // One read of bufferedAmount right after the channel opened (the bound starts unknown), none afterwards.
    expect(reads).toEqual({ bufferedAmount: 1, readyState: 0, sctp: 0 })
    peer.close()
  })

  it('asks the SCTP limit only for messages over 64 KiB, once, and refuses one over the limit', () => {
    const peer = openPeer()
    expect(peer.send(new Uint8Array(100 * KiB))).toBe(true)
    expect(peer.send(new Uint8Array(100 * KiB))).toBe(true)
    expect(peer.send(new Uint8Array(300 * KiB))).toBe(false)
    expect(reads.sctp).toBe(1)
    expect(channel.sent.map((m) => m.length)).toEqual([100 * KiB, 100 * KiB])
    peer.close()
  })

  it('still queues in JS once the channel holds 1 MiB, and drains in order when it empties', () => {
    vi.useFakeTimers()
    const peer = openPeer()
    const pieces = Array.from({ length: 100 }, (_, i) => new Uint8Array(16 * KiB).fill(i))
    for (const p of pieces) peer.send(p)
    // The channel never drained: it got a bit over 1 MiB (the bound is checked before each message), the rest waits.
    const handed = channel.sent.length
    expect(channel.buffered).toBeGreaterThan(1024 * KiB)
    expect(channel.buffered).toBeLessThanOrEqual(1024 * KiB + 16 * KiB)
    expect(handed).toBeLessThan(100)
    // Still full: the drain poll reads bufferedAmount and sends nothing more.
    vi.advanceTimersByTime(20)
    expect(channel.sent.length).toBe(handed)
    // The wire takes everything: the queue drains, in order.
    channel.buffered = 0
    vi.advanceTimersByTime(20)
    channel.buffered = 0
    vi.advanceTimersByTime(20)
    expect(channel.sent.map((m) => m[0])).toEqual(pieces.map((_, i) => i))
    peer.close()
  })

  it('a send on a channel that is no longer open (InvalidStateError) is dropped without closing; other failures close', async () => {
    const peer = openPeer()
    const closed: string[] = []
    peer.on('close', (reason) => closed.push(reason))
    channel.failWith = Object.assign(new Error("RTCDataChannel.readyState is not 'open'"), {
      name: 'InvalidStateError',
    })
    expect(peer.send(new Uint8Array(10))).toBe(true)
    await Promise.resolve()
    expect(closed).toEqual([])
    channel.failWith = new Error('boom')
    peer.send(new Uint8Array(10))
    await Promise.resolve()
    expect(closed).toEqual(['send failed: boom'])
  })

  it('asks for ICE statistics only while no message arrives, and still times a silent peer out after peerTimeout', async () => {
    vi.useFakeTimers()
    const peer = openPeer(4000)
    pc.stats = true
    const closed: string[] = []
    peer.on('close', (reason) => closed.push(reason))
    // Messages every 500 ms for 10 s: the peer is alive, and no getStats call is needed.
    for (let t = 0; t < 10_000; t += 500) {
      channel.onmessage?.({ data: new ArrayBuffer(1) })
      await vi.advanceTimersByTimeAsync(500)
    }
    expect(pc.statsCalls).toBe(0)
    expect(closed).toEqual([])
    // Silence (and frozen ICE counters): closed once peerTimeout passed since the peer was last heard.
    let silentFor = 0
    while (closed.length === 0 && silentFor < 10_000) {
      await vi.advanceTimersByTimeAsync(100)
      silentFor += 100
    }
    expect(closed).toEqual(['peer timed out'])
    expect(pc.statsCalls).toBeGreaterThan(0)
    expect(silentFor).toBeGreaterThanOrEqual(4000)
    expect(silentFor).toBeLessThanOrEqual(4000 + 1000)
  })
})
