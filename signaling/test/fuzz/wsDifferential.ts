import * as wsModule from 'ws'
import { FrameParser } from '../../src/ws/FrameParser.js'
import { clientStream, readsOf, type ClientStream } from './clientStreams.js'

/**
 * The differential WebSocket check (CONN-9.5), shared by `wsDifferential.test.ts` and `npm run fuzz -- --mode
 * websocket`: one client-to-server byte stream, split into the same reads, is fed to the server's
 * {@link FrameParser} and to `ws`'s own `Receiver` (server side, same maximum message size, no extensions). Both
 * must deliver the same messages, pings, pongs and close frame, in the same order, and agree on whether the stream
 * broke the protocol and with which close code; each intended difference is one entry of
 * {@link INTENDED_DIFFERENCES}, named by its spec rule.
 */

/** What a parser delivered: a data message, a ping, a pong, or the close frame (code and reason bytes). */
export type ParseEvent =
  | { readonly kind: 'text' | 'binary' | 'ping' | 'pong'; readonly data: Buffer }
  | { readonly kind: 'close'; readonly code: number; readonly data: Buffer }

/** Everything a parser did with one stream. */
export interface ParseOutcome {
  readonly events: readonly ParseEvent[]
  /** The close code the parser asked for after a protocol error (1002, 1007 or 1009); null if none. */
  readonly error: number | null
  /** An exception the parser threw (always a bug). */
  readonly thrown: string | null
  /** How many events came before the server started its close handshake (`serverCloseAt`), if it did. */
  readonly closeStart: number | null
  /**
   * `ws` only: the error's code (`WS_ERR_...`), and the opcode (a continuation's is its message's) and declared length
   * of the frame it failed on.
   */
  readonly failedFrame?: { readonly code: string; readonly opcode: number; readonly length: number }
}

/** The subset of `ws`'s `Receiver` (a `Writable`) the check drives; `@types/ws` does not declare the class. */
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this
  on(event: 'conclude', listener: (code: number, reason: Buffer) => void): this
  /** The stream's write hook: called directly, so errors come back synchronously through `callback`. */
  _write(chunk: Buffer, encoding: string, callback: (error?: Error | null) => void): void
  /** The frame being parsed (private fields, read only to tell which check an error came from). */
  readonly _opcode: number
  readonly _payloadLength: number
}
type WsReceiverClass = new (options: {
  isServer: boolean
  maxPayload: number
  binaryType: 'nodebuffer'
  extensions: Record<string, never>
}) => WsReceiver

const Receiver = (wsModule as unknown as { Receiver: WsReceiverClass }).Receiver

/** The close code `ws` attaches to a protocol error (under its `kStatusCode` symbol, `Symbol('status-code')`). */
const wsStatusCode = (error: Error): number => {
  const key = Object.getOwnPropertySymbols(error).find((s) => s.description === 'status-code')
  const code = key === undefined ? undefined : (error as unknown as Record<symbol, unknown>)[key]
  if (typeof code !== 'number') throw new Error(`ws error without a status code: ${error.message}`)
  return code
}

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Feeds `stream` to the server's parser, the way `WebSocketConnection` drives it: one `push` per read, parsing
 * stopped after a close frame (CONN-9.3) and, when the stream says so, held after every delivered frame and released
 * at the next read (CONN-2.1 backpressure; what waited is parsed at the end).
 */
export const runFrameParser = (stream: ClientStream): ParseOutcome => {
  const events: ParseEvent[] = []
  let error: number | null = null
  let thrown: string | null = null
  const delivered = (event: ParseEvent): void => {
    events.push(event)
    if (stream.holds) parser.hold()
  }
  const parser: FrameParser = new FrameParser(
    {
      onMessage: (data, isBinary) =>
        delivered({ kind: isBinary ? 'binary' : 'text', data: Buffer.from(data) }),
      onPing: (data) => delivered({ kind: 'ping', data: Buffer.from(data) }),
      onPong: (data) => delivered({ kind: 'pong', data: Buffer.from(data) }),
      onCloseFrame: (code, reason) => {
        events.push({ kind: 'close', code, data: Buffer.from(reason, 'utf8') })
        parser.stop()
      },
      onProtocolError: (code) => {
        error = code
      },
    },
    stream.maxPayload,
  )
  let closeStart: number | null = null
  try {
    for (const [i, read] of readsOf(stream).entries()) {
      if (i === stream.serverCloseAt) {
        // What `WebSocketConnection.sendClose` does: only the peer's close frame matters from now on.
        closeStart = events.length
        parser.discardData()
      }
      parser.release()
      parser.push(read)
    }
    while (parser.held) parser.release()
  } catch (err) {
    thrown = describeError(err)
  }
  return { events, error, thrown, closeStart }
}

/**
 * Feeds `stream` to `ws`'s `Receiver` as `ws`'s server would (`isServer`, `maxPayload`, no extension): one write per
 * read, nothing written after a close frame (`ws` stops reading the socket there) or an error.
 */
export const runWsReceiver = (stream: ClientStream): ParseOutcome => {
  const events: ParseEvent[] = []
  let error: number | null = null
  let thrown: string | null = null
  let concluded = false
  let failedFrame: { code: string; opcode: number; length: number } | undefined
  const receiver = new Receiver({
    isServer: true,
    maxPayload: stream.maxPayload,
    binaryType: 'nodebuffer',
    extensions: {},
  })
  receiver.on('message', (data, isBinary) =>
    events.push({ kind: isBinary ? 'binary' : 'text', data: Buffer.from(data) }),
  )
  receiver.on('ping', (data) => events.push({ kind: 'ping', data: Buffer.from(data) }))
  receiver.on('pong', (data) => events.push({ kind: 'pong', data: Buffer.from(data) }))
  receiver.on('conclude', (code, reason) => {
    events.push({ kind: 'close', code, data: Buffer.from(reason) })
    concluded = true
  })
  let closeStart: number | null = null
  try {
    for (const [i, read] of readsOf(stream).entries()) {
      // `ws` goes on delivering data messages after its server sent a close frame.
      if (i === stream.serverCloseAt) closeStart = events.length
      if (concluded || error !== null) break
      receiver._write(read, 'buffer', (err) => {
        if (!err) return
        error = wsStatusCode(err)
        const code = (err as Error & { code?: unknown }).code
        failedFrame = { code: String(code), opcode: receiver._opcode, length: receiver._payloadLength }
      })
    }
  } catch (err) {
    thrown = describeError(err)
  }
  return { events, error, thrown, closeStart, ...(failedFrame && { failedFrame }) }
}

/**
 * A deliberate difference between the server's parser and `ws`: the spec rule that states it, and the exact
 * condition under which the two outcomes may differ (never a blanket ignore).
 */
export interface IntendedDifference {
  readonly rule: string
  readonly description: string
  applies(stream: ClientStream, weft: ParseOutcome, ws: ParseOutcome): boolean
}

const isData = (e: ParseEvent): boolean => e.kind === 'text' || e.kind === 'binary'

/** Every intended difference (CONN-9.5.x); each one explains a disagreement only where its condition holds. */
export const INTENDED_DIFFERENCES: readonly IntendedDifference[] = [
  {
    rule: 'CONN-9.5.1',
    description:
      'after the server sent its close frame, data messages are skipped: not delivered, not buffered, so neither ' +
      'their UTF-8 nor their total size is checked (ws delivers them and checks both); frame rules and control ' +
      'frames are unchanged',
    applies: (stream, weft, ws) => {
      if (stream.serverCloseAt === undefined || weft.thrown !== null || ws.thrown !== null) return false
      const start = weft.closeStart
      if (start === null || ws.closeStart !== start) return false
      // Identical up to the server's close.
      if (!sameEvents(weft.events.slice(0, start), ws.events.slice(0, start))) return false
      const weftAfter = weft.events.slice(start)
      const wsAfter = ws.events.slice(start).filter((e) => !isData(e))
      if (weftAfter.some(isData)) return false
      // ws's events without its data messages; and the same decision, unless ws stopped at one of the two checks the
      // server skips: then what ws saw is where the server's parse continues from.
      if (weft.error === ws.error && sameEvents(weftAfter, wsAfter)) return true
      const frame = ws.failedFrame
      const skippedCheck =
        frame !== undefined &&
        // A text message's UTF-8 (not a close reason's, still checked) ...
        ((frame.code === 'WS_ERR_INVALID_UTF8' && frame.opcode === 0x1) ||
          // ... or a fragmented message's total size (each frame is still checked on its own).
          (frame.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && frame.length <= stream.maxPayload))
      return skippedCheck && sameEvents(weftAfter.slice(0, wsAfter.length), wsAfter)
    },
  },
]

const sameEvents = (a: readonly ParseEvent[], b: readonly ParseEvent[]): boolean =>
  a.length === b.length && a.every((e, i) => sameEvent(e, b[i] as ParseEvent))

const sameEvent = (a: ParseEvent, b: ParseEvent): boolean =>
  a.kind === b.kind &&
  a.data.equals(b.data) &&
  (a.kind !== 'close' || b.kind !== 'close' || a.code === b.code)

const showEvent = (e: ParseEvent): string =>
  `${e.kind}${e.kind === 'close' ? ` ${e.code}` : ''}(${e.data.length} B${e.data.length <= 16 ? ` ${e.data.toString('hex')}` : ''})`

/** Where two outcomes first differ, or null if they agree. */
export const firstDifference = (weft: ParseOutcome, ws: ParseOutcome): string | null => {
  if (weft.thrown !== null || ws.thrown !== null) return `threw: weft ${weft.thrown}, ws ${ws.thrown}`
  const n = Math.max(weft.events.length, ws.events.length)
  for (let i = 0; i < n; i++) {
    const a = weft.events[i]
    const b = ws.events[i]
    if (a === undefined || b === undefined || !sameEvent(a, b))
      return `event ${i}: weft ${a ? showEvent(a) : 'none'}, ws ${b ? showEvent(b) : 'none'}`
  }
  if (weft.error !== ws.error) return `error: weft ${weft.error ?? 'none'}, ws ${ws.error ?? 'none'}`
  return null
}

/** The verdict on one stream: agreement, agreement by an intended difference (its rule), or the first difference. */
export interface Verdict {
  readonly agree: boolean
  /** The intended difference that explains a disagreement. */
  readonly rule?: string
  /** Where the outcomes differ (when they do). */
  readonly detail?: string
  readonly weft: ParseOutcome
  readonly ws: ParseOutcome
}

/** Runs `stream` through both parsers and compares what they did. */
export const checkStream = (stream: ClientStream): Verdict => {
  const weft = runFrameParser(stream)
  const ws = runWsReceiver(stream)
  const detail = firstDifference(weft, ws)
  if (detail === null) return { agree: true, weft, ws }
  const intended = INTENDED_DIFFERENCES.find((d) => d.applies(stream, weft, ws))
  if (intended) return { agree: true, rule: intended.rule, detail, weft, ws }
  return { agree: false, detail, weft, ws }
}

/** {@link checkStream} on the generated stream of `seed`. */
export const checkSeed = (seed: number): Verdict & { readonly stream: ClientStream } => {
  const stream = clientStream(seed)
  return { ...checkStream(stream), stream }
}

/** Outcome counts over a run, to show the fuzz reaches every kind of decision. */
export interface RunStats {
  streams: number
  agreed: number
  byRule: Record<string, number>
  errors: Record<string, number>
  messages: number
  /** Messages of 65,536 bytes or more (a 64-bit length, or fragments adding up to it). */
  largeMessages: number
  /** Pings and pongs. */
  controls: number
  closes: number
  failed: number[]
}

/** Checks seeds `from` .. `from + count - 1`, calling `onFailure` for each disagreement. */
export const runSeeds = (
  from: number,
  count: number,
  onFailure: (seed: number, verdict: Verdict) => void = () => undefined,
): RunStats => {
  const stats: RunStats = {
    streams: 0,
    agreed: 0,
    byRule: {},
    errors: {},
    messages: 0,
    largeMessages: 0,
    controls: 0,
    closes: 0,
    failed: [],
  }
  for (let seed = from; seed < from + count; seed++) {
    const verdict = checkSeed(seed)
    stats.streams++
    if (!verdict.agree) {
      stats.failed.push(seed)
      onFailure(seed, verdict)
      continue
    }
    stats.agreed++
    if (verdict.rule) stats.byRule[verdict.rule] = (stats.byRule[verdict.rule] ?? 0) + 1
    const error = String(verdict.ws.error ?? 'none')
    stats.errors[error] = (stats.errors[error] ?? 0) + 1
    for (const e of verdict.ws.events) {
      if (isData(e)) stats.messages++
      if (isData(e) && e.data.length >= 65536) stats.largeMessages++
      if (e.kind === 'ping' || e.kind === 'pong') stats.controls++
      if (e.kind === 'close') stats.closes++
    }
  }
  return stats
}
