import type { Logger } from 'pino'
import type { Rules, RulesVerdict, Writer } from '@weft/core/rules'
import type { ConnectionContext } from '../../hooks.js'
import { WeftServerError } from '../../WeftServerError.js'
import type { RelayPeer, RelayRoom } from '../RelayRoom.js'
import { RulesView } from './RulesView.js'

/**
 * Which rooms have rules (RULES-4.1): a map from room patterns to rules (`*` matches any run of characters, the
 * first matching pattern in declaration order wins; `"*"` alone rules every room), or a function of the room name
 * (`null`/`undefined`: the room has no rules).
 */
export type RelayRulesOption =
  { readonly [roomPattern: string]: Rules } | ((room: string) => Rules | null | undefined)

/** A refused update's verdict (what the writer is told). */
export type RuleRefusal = Extract<RulesVerdict, { ok: false }>

/** A refused update's error, carrying the rules verdict so that the writer's connection can tell its writer (RULES-4.3). */
class RuleRejection extends WeftServerError {
  readonly verdict: RuleRefusal
  constructor(room: string, verdict: RuleRefusal) {
    super(
      'rejected-update',
      `an update of ${JSON.stringify(room)} broke ${verdict.ruleId}: ${verdict.reason}`,
    )
    this.verdict = verdict
  }
}

/** The rules refusal behind a refused update's error, or `null` when it was refused for another reason. */
export const ruleRefusalOf = (err: unknown): RuleRefusal | null =>
  err instanceof RuleRejection ? err.verdict : null

const rejection = (room: string, verdict: RuleRefusal): Promise<void> => {
  const refused = Promise.reject(new RuleRejection(room, verdict))
  refused.catch(() => undefined)
  return refused
}

const patternOf = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  )

/** One ruled room's view and the room log's size when the view last matched it. */
interface Held {
  view: RulesView
  logBytes: number
}

/** The writer of a connection without a grant (no subject, no claims). */
const ANONYMOUS: Writer = Object.freeze({ subject: undefined, claims: Object.freeze({}) })

/**
 * The relay's rules (RULES-4): which rooms have rules, one validating {@link RulesView} per loaded ruled room (kept
 * with the room object, so dropped when the room unloads), and who each connection writes as. Every update to a ruled
 * room passes {@link RelayRules.screen} after the app's `onUpdate` hook accepted it and before the room stores it.
 */
export class RelayRules {
  readonly #find: (room: string) => Rules | null
  readonly #logger: Logger
  readonly #views = new WeakMap<RelayRoom, Held>()
  readonly #writers = new WeakMap<RelayPeer, Writer>()

  constructor(option: RelayRulesOption, logger: Logger) {
    this.#logger = logger
    if (typeof option === 'function') {
      this.#find = (room) => option(room) ?? null
    } else {
      const patterns = Object.entries(option).map(([p, rules]) => [patternOf(p), rules] as const)
      this.#find = (room) => patterns.find(([p]) => p.test(room))?.[1] ?? null
    }
  }

  /** `peer` writes as the grant of `context` (its subject and claims). */
  identify(peer: RelayPeer, context: ConnectionContext | undefined): void {
    const grant = context?.grant
    if (grant) this.#writers.set(peer, { subject: grant.subject, claims: grant.claims ?? {} })
  }

  /**
   * RULES-4.1, 4.2: checks `update` of `from` to `room` if the room has rules, and calls `accept` (which stores and
   * forwards it) only if it is accepted. A refused update is never stored or forwarded; the returned promise rejects
   * with an error whose {@link ruleRefusalOf} is the verdict (the connection tells its writer, RULES-4.3).
   */
  screen(room: RelayRoom, update: Uint8Array, from: RelayPeer, accept: () => Promise<void>): Promise<void> {
    const rules = this.#find(room.docId)
    if (rules === null) return accept()
    let held = this.#views.get(room)
    // RULES-4.6: the room took something by another way (another node, an epoch switch, a compaction, a refusal of
    // its own): the view starts again from the room's state.
    if (!held || held.view.broken || held.logBytes !== room.log.byteLength) {
      held?.view.destroy()
      held = { view: new RulesView(rules, room.log.state()), logBytes: room.log.byteLength }
      this.#views.set(room, held)
    }
    const writer = this.#writers.get(from) ?? ANONYMOUS
    const verdict = held.view.check(update, writer)
    if (!verdict.ok) {
      this.#logger.warn(
        {
          room: room.docId,
          sub: writer.subject,
          rule: verdict.ruleId,
          path: verdict.path.join('/'),
          reason: verdict.reason,
        },
        'update rejected by the room rules',
      )
      return rejection(room.docId, verdict)
    }
    const before = room.log.byteLength
    const durable = accept()
    // Not taken into the log (refused by the room, held by an epoch switch): the view holds more than the room.
    if (room.log.byteLength === before) {
      held.view.destroy()
      this.#views.delete(room)
    } else held.logBytes = room.log.byteLength
    return durable
  }
}
