import { ObservableV2 } from 'lib0/observable'

/**
 * One signal exchanged through the signaling server, in the format simple-peer (inside y-webrtc) uses:
 * `{ type: 'offer' | 'answer', sdp }` or `{ type: 'candidate', candidate: { candidate, sdpMLineIndex, sdpMid } }`.
 */
export type Signal =
  | { readonly type: 'offer' | 'answer'; readonly sdp: string }
  | {
      readonly type: 'candidate'
      readonly candidate: {
        readonly candidate: string
        readonly sdpMLineIndex: number | null
        readonly sdpMid: string | null
      }
    }

/** Events of {@link RtcPeer}. */
export type RtcPeerEvents = {
  /** A signal to deliver to the remote peer. */
  signal: (signal: Signal) => void
  /** A data channel opened: {@link RtcPeer.send} works. Emitted once. */
  open: () => void
  /**
   * The remote's own channel opened after ours was in use: from now on messages go there. Messages sent before may
   * not have been read (a simple-peer that created its own channel listens only on it).
   */
  switched: () => void
  message: (data: Uint8Array) => void
  /** The connection is gone. Emitted once; nothing is emitted afterwards. */
  close: (reason: string) => void
}

/** Options of {@link RtcPeer}. */
export interface RtcPeerOptions {
  readonly RTCPeerConnection: typeof RTCPeerConnection
  readonly config: RTCConfiguration
  /** This side creates the data channel and the offer. */
  readonly initiator: boolean
  /**
   * Once open, the peer is closed (`peer timed out`) when nothing at all (not even an ICE check) arrived from it for
   * this many ms. 0 disables it (then only ICE `failed`, about 30 s, ends a vanished peer).
   */
  readonly peerTimeout: number
  /**
   * Once open, the peer is closed ({@link SILENT_PEER}) if no message at all arrived within this many ms: every
   * y-protocols peer speaks first (sync step 1), so silence means the other side never saw the channel open.
   */
  readonly silenceTimeout: number
}

/** Close reason of a peer whose channel opened but which sent nothing (see {@link RtcPeerOptions.silenceTimeout}). */
export const SILENT_PEER = 'peer sent nothing'

/** Queue in JS (not in the channel) once the channel holds this many bytes: libwebrtc closes a channel past 16 MiB. */
const HIGH_WATER = 1024 * 1024
const LOW_WATER = 256 * 1024
/** Drain poll for implementations without `bufferedamountlow` (node-webrtc). */
const DRAIN_POLL_MS = 5
const SAFETY_POLL_MS = 100
/** Largest message when the implementation does not tell (the SCTP default of browsers and libwebrtc). */
const DEFAULT_MAX_MESSAGE = 256 * 1024
/**
 * Messages up to this size fit every data channel (RFC 8841: a peer that announces no `max-message-size` accepts
 * 64 KiB), so the remote's limit is not asked for them.
 */
const ALWAYS_FITS = 64 * 1024

/** The error `send()` throws on a channel that is not open (a DOMException, or node-webrtc's look-alike). */
const isInvalidState = (err: unknown): boolean =>
  typeof err === 'object' &&
  err !== null &&
  ((err as { name?: unknown }).name === 'InvalidStateError' ||
    /readyState is not 'open'/.test(String((err as { message?: unknown }).message)))

const fingerprint = (sdp: string): string => /^a=fingerprint:(.*)$/m.exec(sdp)?.[1]?.trim() ?? ''

const parseSignal = (value: unknown): Signal | null => {
  if (typeof value !== 'object' || value === null) return null
  const v = value as Record<string, unknown>
  if ((v['type'] === 'offer' || v['type'] === 'answer') && typeof v['sdp'] === 'string') {
    return { type: v['type'], sdp: v['sdp'] }
  }
  const c = v['candidate']
  if (typeof c === 'object' && c !== null) {
    const cand = c as Record<string, unknown>
    if (typeof cand['candidate'] !== 'string') return null
    return {
      type: 'candidate',
      candidate: {
        candidate: cand['candidate'],
        sdpMLineIndex: typeof cand['sdpMLineIndex'] === 'number' ? cand['sdpMLineIndex'] : null,
        sdpMid: typeof cand['sdpMid'] === 'string' ? cand['sdpMid'] : null,
      },
    }
  }
  return null
}

/**
 * One WebRTC connection with one data channel to one remote peer, compatible with simple-peer's signaling (so with
 * y-webrtc): the initiator creates the channel and the offer, candidates trickle. Outgoing messages queue in JS
 * while the channel's buffer is full (flow control). Errors close the peer; nothing is thrown from callbacks.
 */
export class RtcPeer extends ObservableV2<RtcPeerEvents> {
  readonly initiator: boolean
  readonly #pc: RTCPeerConnection
  /** Every data channel of the connection, in the order they appeared; `#mine` marks those this side created. */
  readonly #channels: RTCDataChannel[] = []
  readonly #mine = new Set<RTCDataChannel>()
  /**
   * Channels whose implementation fires `bufferedamountlow` (browsers; not node-webrtc). Decided when the channel is
   * adopted: once this class assigned `onbufferedamountlow`, the property exists on any channel.
   */
  readonly #evented = new WeakSet<RTCDataChannel>()
  /** The channel messages are sent on. */
  #current: RTCDataChannel | null = null
  #opened = false
  #closed = false
  /** Signals are applied one after another (setRemoteDescription is asynchronous). */
  #ops: Promise<void> = Promise.resolve()
  readonly #early: RTCIceCandidateInit[] = []
  readonly #queue: Uint8Array[] = []
  #drainTimer: ReturnType<typeof setTimeout> | undefined
  #watchTimer: ReturnType<typeof setTimeout> | undefined
  readonly #peerTimeout: number
  readonly #silenceTimeout: number
  #silenceTimer: ReturnType<typeof setTimeout> | undefined
  /** Messages received so far (part of the liveness signature). */
  #received = 0
  /**
   * Reading a channel's or the connection's properties is a blocking call into the WebRTC threads in node-webrtc
   * (~10-40 us each, far more on a loaded machine), so the send path reads as little as it can:
   * the remote's largest message, cached until the next remote description; and an upper bound of the current
   * channel's `bufferedAmount` (the last value read plus the bytes written since: the real value only shrinks
   * otherwise), read again only when the bound passes the high-water mark.
   */
  #maxMessage: number | null = null
  #bufferedBound = 0

  constructor(options: RtcPeerOptions) {
    super()
    this.initiator = options.initiator
    this.#peerTimeout = options.peerTimeout
    this.#silenceTimeout = options.silenceTimeout
    this.#pc = new options.RTCPeerConnection(options.config)
    const pc = this.#pc
    pc.onicecandidate = (event) => {
      const c = event.candidate
      if (this.#closed || c === null || !c.candidate) return
      this.emit('signal', [
        {
          type: 'candidate',
          candidate: { candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex, sdpMid: c.sdpMid },
        },
      ])
    }
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState
      if (state === 'failed' || state === 'closed') this.close(`ice ${state}`)
    }
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState
      if (state === 'failed' || state === 'closed') this.close(`connection ${state}`)
    }
    pc.ondatachannel = (event) => this.#adopt(event.channel, false)
    if (this.initiator) {
      this.#adopt(pc.createDataChannel('weft'), true)
      this.#run(async () => {
        const offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        this.#emitDescription()
      })
    }
  }

  /** A data channel is open. */
  get connected(): boolean {
    return this.#opened && !this.#closed
  }

  /** Largest message the remote side accepts in one piece. */
  get maxMessageSize(): number {
    if (this.#maxMessage !== null) return this.#maxMessage
    const n = this.#pc.sctp?.maxMessageSize
    const max = typeof n === 'number' && n > 0 && Number.isFinite(n) ? n : DEFAULT_MAX_MESSAGE
    // Known once the channel is open; it changes only with a new remote description (see `signal`).
    if (this.#opened) this.#maxMessage = max
    return max
  }

  /**
   * Whether `sdp` (an offer) comes from the same remote RTCPeerConnection as the current remote description (same
   * DTLS fingerprint): then it is a renegotiation, else the remote started a new connection. True while no remote
   * description is set.
   */
  sameSession(sdp: string): boolean {
    const current = this.#pc.remoteDescription?.sdp
    if (!current) return true
    return fingerprint(current) === fingerprint(sdp)
  }

  /** Applies a signal from the remote peer; a value that is not a signal is ignored. */
  signal(value: unknown): void {
    const signal = parseSignal(value)
    if (signal === null || this.#closed) return
    const pc = this.#pc
    this.#run(async () => {
      if (signal.type === 'candidate') {
        if (pc.remoteDescription === null) this.#early.push(signal.candidate)
        else await this.#addCandidate(signal.candidate)
        return
      }
      if (signal.type === 'answer' && pc.signalingState !== 'have-local-offer') return // late duplicate
      if (signal.type === 'offer' && pc.signalingState !== 'stable') return // glare is settled by the transport
      await pc.setRemoteDescription({ type: signal.type, sdp: signal.sdp })
      this.#maxMessage = null
      for (const c of this.#early.splice(0)) await this.#addCandidate(c)
      if (signal.type === 'offer') {
        const answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        this.#emitDescription()
      }
    })
  }

  /**
   * Sends one message. Returns `false` (and sends nothing) when the message is larger than the remote accepts in
   * one piece; `true` otherwise (a message to a peer that is not open is dropped silently).
   */
  send(data: Uint8Array): boolean {
    if (!this.connected) return true
    if (data.length > ALWAYS_FITS && data.length > this.maxMessageSize) return false
    const channel = this.#current
    if (channel === null) return true
    if (this.#bufferedBound > HIGH_WATER && this.#queue.length === 0) {
      this.#bufferedBound = channel.bufferedAmount
    }
    if (this.#queue.length > 0 || this.#bufferedBound > HIGH_WATER) {
      this.#queue.push(data)
      this.#scheduleDrain()
      return true
    }
    this.#write(channel, data)
    return true
  }

  /** Closes the connection; emits `close` once. */
  close(reason = 'closed'): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#drainTimer)
    clearTimeout(this.#watchTimer)
    clearTimeout(this.#silenceTimer)
    this.#queue.length = 0
    for (const channel of this.#channels) {
      channel.onopen = channel.onclose = channel.onmessage = channel.onerror = null
      try {
        channel.close()
      } catch {
        // already closed
      }
    }
    const pc = this.#pc
    pc.onicecandidate = pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.ondatachannel = null
    try {
      pc.close()
    } catch {
      // already closed
    }
    this.emit('close', [reason])
    super.destroy()
  }

  override destroy(): void {
    this.close('destroyed')
  }

  #run(op: () => Promise<void>): void {
    this.#ops = this.#ops.then(async () => {
      if (this.#closed) return
      try {
        await op()
      } catch (err) {
        this.close(`negotiation failed: ${err instanceof Error ? err.message : String(err)}`)
      }
    })
  }

  async #addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    try {
      await this.#pc.addIceCandidate(candidate)
    } catch {
      // A candidate this side cannot use (e.g. an mDNS name) is not fatal: others may work.
    }
  }

  #emitDescription(): void {
    const d = this.#pc.localDescription
    if (this.#closed || d === null || (d.type !== 'offer' && d.type !== 'answer')) return
    this.emit('signal', [{ type: d.type, sdp: d.sdp }])
  }

  /**
   * Picks the channel to send on: the newest open channel the remote created (a simple-peer that created its own
   * channel listens only there), else ours. Emits `open` for the first, `switched` when it changes, and closes the
   * connection once no channel is left.
   */
  #reselect(): void {
    if (this.#closed) return
    const open = this.#channels.filter((c) => c.readyState === 'open')
    const next = open.filter((c) => !this.#mine.has(c)).at(-1) ?? open.at(-1) ?? null
    if (next === null) {
      if (this.#opened && !this.#channels.some((c) => c.readyState === 'connecting'))
        this.close('channel closed')
      return
    }
    if (next === this.#current) return
    const first = this.#current === null && !this.#opened
    this.#current = next
    this.#bufferedBound = Number.POSITIVE_INFINITY // another channel: read its bufferedAmount before sending
    if (!first) {
      this.emit('switched', [])
      return
    }
    this.#opened = true
    if (this.#peerTimeout > 0) this.#watch()
    if (this.#silenceTimeout > 0 && this.#received === 0) {
      this.#silenceTimer = setTimeout(() => this.close(SILENT_PEER), this.#silenceTimeout)
    }
    this.emit('open', [])
  }

  #adopt(channel: RTCDataChannel, own: boolean): void {
    if (this.#closed) {
      channel.close()
      return
    }
    this.#channels.push(channel)
    if (own) this.#mine.add(channel)
    if ('onbufferedamountlow' in channel) this.#evented.add(channel)
    channel.binaryType = 'arraybuffer'
    channel.bufferedAmountLowThreshold = LOW_WATER
    channel.onopen = () => this.#reselect()
    channel.onmessage = (event: MessageEvent<unknown>) => {
      if (this.#closed) return
      const data = event.data
      if (this.#received++ === 0) clearTimeout(this.#silenceTimer)
      if (data instanceof ArrayBuffer) this.emit('message', [new Uint8Array(data)])
      else if (ArrayBuffer.isView(data))
        this.emit('message', [new Uint8Array(data.buffer, data.byteOffset, data.byteLength)])
      else if (typeof data === 'string') this.emit('message', [new TextEncoder().encode(data)])
    }
    const gone = (): void => {
      channel.onopen = channel.onclose = channel.onmessage = channel.onerror = null
      this.#channels.splice(this.#channels.indexOf(channel), 1)
      this.#mine.delete(channel)
      if (this.#current === channel) this.#current = null
      this.#reselect()
    }
    channel.onclose = gone
    channel.onerror = gone
    if (channel.readyState === 'open') this.#reselect()
  }

  /**
   * Liveness: ICE checks arrive every few seconds from a live peer even when no data flows. A vanished peer (killed,
   * lid closed, network gone) sends nothing, but ICE only reports `failed` after about 30 s; this notices sooner.
   * Watches the candidate pairs' `requestsReceived`/`responsesReceived`/`bytesReceived`; where the implementation
   * does not report ICE check counters, it stops watching rather than guess.
   */
  #watch(): void {
    const interval = Math.min(1000, this.#peerTimeout / 4)
    let signature = -1
    let since = Date.now()
    let received = this.#received
    const tick = async (): Promise<void> => {
      if (this.#closed) return
      if (this.#received !== received) {
        // Messages arrived: the peer is alive, no need to ask for ICE statistics (an expensive call).
        received = this.#received
        signature = -1
        since = Date.now()
        this.#watchTimer = setTimeout(() => void tick(), interval)
        return
      }
      let now = 0
      let counted = false
      try {
        const report = await this.#pc.getStats()
        report.forEach((stat: Record<string, unknown>) => {
          if (stat['type'] !== 'candidate-pair') return
          for (const key of ['requestsReceived', 'responsesReceived', 'bytesReceived']) {
            const n = stat[key]
            if (typeof n !== 'number') continue
            now += n
            if (key === 'requestsReceived') counted = true
          }
        })
      } catch {
        counted = false
      }
      if (this.#closed || !counted) return
      now += this.#received
      if (signature === -1) {
        // First statistics (after the start or after messages): `since` already says when the peer was last heard.
        signature = now
      } else if (now !== signature) {
        signature = now
        since = Date.now()
      } else if (Date.now() - since >= this.#peerTimeout) {
        this.close('peer timed out')
        return
      }
      this.#watchTimer = setTimeout(() => void tick(), interval)
    }
    this.#watchTimer = setTimeout(() => void tick(), interval)
  }

  #write(channel: RTCDataChannel, data: Uint8Array): void {
    // No `readyState` check first: `send()` makes the same check itself (in node-webrtc the very same native test,
    // which is a blocking call into the WebRTC threads) and throws InvalidStateError on a channel that is closing or
    // closed, e.g. one the remote has just closed; its close event follows and `#reselect` handles it.
    try {
      channel.send(data as Uint8Array<ArrayBuffer>)
      this.#bufferedBound += data.length
    } catch (err) {
      if (isInvalidState(err)) return
      queueMicrotask(() => this.close(`send failed: ${err instanceof Error ? err.message : String(err)}`))
    }
  }

  #scheduleDrain(): void {
    const channel = this.#current
    if (this.#drainTimer !== undefined || channel === null) return
    const drain = (): void => {
      clearTimeout(this.#drainTimer)
      this.#drainTimer = undefined
      if (this.#evented.has(channel)) channel.onbufferedamountlow = null
      const now = this.#current
      if (this.#closed || now === null) return
      this.#bufferedBound = now.bufferedAmount
      while (this.#queue.length > 0 && this.#bufferedBound <= HIGH_WATER) {
        const next = this.#queue.shift()
        if (next !== undefined) this.#write(now, next)
      }
      if (this.#queue.length > 0) this.#scheduleDrain()
    }
    // Browsers fire `bufferedamountlow`; node-webrtc does not, so it is polled (browsers poll slowly, as a safety net).
    const evented = this.#evented.has(channel)
    if (evented) channel.onbufferedamountlow = drain
    this.#drainTimer = setTimeout(drain, evented ? SAFETY_POLL_MS : DRAIN_POLL_MS)
  }
}
