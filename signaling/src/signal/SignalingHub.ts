import { CloseCode } from '@weft/core'
import type { RoomGrant } from '../auth/RoomGrant.js'
import type { GuardedSocket, SocketHandler } from '../connection/GuardedSocket.js'
import type { ServerLimits } from '../ServerLimits.js'
import { TextFrame } from '../ws/frames.js'

/** One parsed signaling message from a client. */
type SignalMessage =
  | { readonly type: 'subscribe' | 'unsubscribe'; readonly topics: readonly string[] }
  | { readonly type: 'publish'; readonly topic: string; readonly body: Record<string, unknown> }
  | { readonly type: 'ping' }

type ParseResult =
  { readonly ok: true; readonly message: SignalMessage } | { readonly ok: false; readonly reason: string }

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string')

/** Parses one `/signal` frame (rules SIG-2, SIG-7 of docs/spec/signaling.md). */
export const parseSignalMessage = (data: Buffer): ParseResult => {
  let json: unknown
  try {
    json = JSON.parse(data.toString('utf8'))
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return { ok: false, reason: 'not an object' }
  const body = json as Record<string, unknown>
  switch (body['type']) {
    case 'subscribe':
    case 'unsubscribe': {
      const topics = body['topics'] ?? []
      if (!isStringArray(topics)) return { ok: false, reason: 'topics must be an array of strings' }
      return { ok: true, message: { type: body['type'], topics } }
    }
    case 'publish': {
      const topic = body['topic']
      if (typeof topic !== 'string') return { ok: false, reason: 'publish needs a string topic' }
      return { ok: true, message: { type: 'publish', topic, body } }
    }
    case 'ping':
      return { ok: true, message: { type: 'ping' } }
    default:
      return { ok: false, reason: 'unknown message type' }
  }
}

/** State of one signaling connection; it is its socket's handler too (no closures per connection). */
export class Subscriber implements SocketHandler {
  readonly topics = new Set<string>()

  constructor(
    readonly hub: SignalingHub,
    readonly socket: GuardedSocket,
    /** What the connection may do; replaced by a revalidation (RELAY-4.9). */
    public grant: RoomGrant,
  ) {}

  onMessage(data: Buffer): void {
    this.hub.handle(this, data)
  }

  onClose(): void {
    this.hub.release(this)
  }
}

/** The answer to a ping, framed once for every connection. */
const PONG = new TextFrame(JSON.stringify({ type: 'pong' }))

/**
 * The y-webrtc signaling protocol (docs/spec/signaling.md): clients subscribe to topics (room names) and publish
 * JSON messages that every subscriber of the topic receives, the sender included, with a `clients` field holding
 * the subscriber count. Topics are checked against the connection's grant: subscribing and publishing need write
 * access (SIG-3.1), since a peer in a room's WebRTC mesh sends updates that other peers apply and forward.
 */
export class SignalingHub {
  readonly #topics = new Map<string, Set<Subscriber>>()
  readonly #limits: ServerLimits

  constructor(limits: ServerLimits) {
    this.#limits = limits
  }

  /** Topics with at least one subscriber. */
  get topicCount(): number {
    return this.#topics.size
  }

  /** Subscribers of `topic` (for tests and metrics). */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0
  }

  /** Serves one connection until it closes; returns its state (for {@link SignalingHub.regrant}). */
  accept(socket: GuardedSocket, grant: RoomGrant): Subscriber {
    const sub = new Subscriber(this, socket, grant)
    socket.attach(sub)
    return sub
  }

  /**
   * RELAY-4.9: a revalidation gave `sub` a new grant. Its later subscribes and publishes are checked against it
   * (SIG-3.1); if a topic it is subscribed to lost write access, the connection is closed with `AccessRevoked` and
   * `false` returned (it receives nothing more).
   */
  regrant(sub: Subscriber, grant: RoomGrant): boolean {
    sub.grant = grant
    for (const topic of sub.topics) {
      if (grant.access(topic) === 'write') continue
      sub.socket.close(CloseCode.AccessRevoked, 'access revoked')
      this.release(sub)
      return false
    }
    return true
  }

  /** @internal A connection closed: it leaves every topic (SIG-6). */
  release(sub: Subscriber): void {
    for (const topic of sub.topics) this.#leave(sub, topic)
    sub.topics.clear()
  }

  /** @internal One message from a connection. */
  handle(sub: Subscriber, data: Buffer): void {
    const parsed = parseSignalMessage(data)
    if (!parsed.ok) {
      sub.socket.close(CloseCode.MalformedMessage, parsed.reason)
      return
    }
    const message = parsed.message
    switch (message.type) {
      case 'subscribe':
        for (const topic of message.topics) {
          if (!this.#allowed(sub, topic)) return
          if (sub.topics.has(topic)) continue
          if (sub.topics.size >= this.#limits.maxRoomsPerConnection) {
            sub.socket.close(CloseCode.TooManyRooms, `more than ${this.#limits.maxRoomsPerConnection} topics`)
            return
          }
          sub.topics.add(topic)
          let set = this.#topics.get(topic)
          if (!set) this.#topics.set(topic, (set = new Set()))
          set.add(sub)
        }
        return
      case 'unsubscribe':
        for (const topic of message.topics) {
          if (sub.topics.delete(topic)) this.#leave(sub, topic)
        }
        return
      case 'publish': {
        if (!this.#allowed(sub, message.topic)) return
        const receivers = this.#topics.get(message.topic)
        if (!receivers) return
        // Framed once for every receiver.
        const out = new TextFrame(JSON.stringify({ ...message.body, clients: receivers.size }))
        const now = Date.now()
        for (const receiver of [...receivers]) {
          // AUTH-8: a subscriber whose grant ended gets nothing more, even before its expiry timer fired.
          if (receiver.grant.expired(now)) receiver.socket.close(CloseCode.TokenExpired, 'token expired')
          else receiver.socket.send(out)
        }
        return
      }
      case 'ping':
        sub.socket.send(PONG)
        return
    }
  }

  /**
   * Checks a topic name against the limits and the grant (SIG-3.1: write access); closes the connection if refused:
   * `Forbidden` without access, `ReadOnly` with read access only.
   */
  #allowed(sub: Subscriber, topic: string): boolean {
    if (topic.length > this.#limits.maxRoomNameLength) {
      sub.socket.close(CloseCode.MalformedMessage, 'topic name too long')
      return false
    }
    const access = sub.grant.access(topic)
    if (access === 'write') return true
    if (access === 'read') sub.socket.close(CloseCode.ReadOnly, 'signaling needs write access')
    else sub.socket.close(CloseCode.Forbidden, 'topic not granted')
    return false
  }

  #leave(sub: Subscriber, topic: string): void {
    const set = this.#topics.get(topic)
    if (!set) return
    set.delete(sub)
    if (set.size === 0) this.#topics.delete(topic)
  }
}
