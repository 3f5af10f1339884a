import type { Logger } from 'pino'
import {
  ANONYMOUS_WRITER,
  DEPENDS_ON_REJECTED,
  RulesView,
  type Rules,
  type RulesVerdict,
  type Writer,
} from '@weft/core/rules'
import type { ConnectionContext } from '../../hooks.js'
import { WeftServerError } from '../../WeftServerError.js'
import type { RelayPeer, RelayRoom } from '../RelayRoom.js'
import { RoomViews, WriterFences } from './roomScreen.js'

/**
 * Which rooms have rules (RULES-4.1): a map from room patterns to rules (`*` matches any run of characters, the
 * first matching pattern in declaration order wins; `"*"` alone rules every room), or a function of the room name
 * (`null`/`undefined`: the room has no rules).
 */
export type RelayRulesOption =
  { readonly [roomPattern: string]: Rules } | ((room: string) => Rules | null | undefined)

/** A refused update's verdict (what the writer is told). */
export type RuleRefusal = Extract<RulesVerdict, { ok: false }>

/**
 * A refused update's error, carrying the rules verdict so that the writer's connection can tell its writer (RULES-4.3);
 * `fenced`: refused without a check because an earlier update of the writer was refused and the writer has not rolled
 * back yet (RULES-5.1), so the writer is not told again.
 */
class RuleRejection extends WeftServerError {
  readonly verdict: RuleRefusal
  readonly fenced: boolean
  constructor(room: string, verdict: RuleRefusal, fenced: boolean) {
    super(
      'rejected-update',
      `an update of ${JSON.stringify(room)} broke ${verdict.ruleId}: ${verdict.reason}`,
    )
    this.verdict = verdict
    this.fenced = fenced
  }
}

/**
 * The rules refusal behind a refused update's error (`fenced`: refused behind an earlier refusal, RULES-5.1), or `null`
 * when it was refused for another reason.
 */
export const ruleRefusalOf = (err: unknown): { verdict: RuleRefusal; fenced: boolean } | null =>
  err instanceof RuleRejection ? { verdict: err.verdict, fenced: err.fenced } : null

const FENCED: RuleRefusal = Object.freeze({
  ok: false,
  ruleId: DEPENDS_ON_REJECTED,
  path: Object.freeze([]) as readonly string[],
  reason: 'an earlier update of this writer was rejected and it has not rolled back yet',
})

const MISSING: RuleRefusal = Object.freeze({
  ok: false,
  ruleId: DEPENDS_ON_REJECTED,
  path: Object.freeze([]) as readonly string[],
  reason: 'the update depends on changes the relay does not have (an earlier rejected change)',
})

/**
 * A refused update's outcome: rejected with the error whose {@link ruleRefusalOf} is `verdict` (the connection tells
 * its writer, RULES-4.3), never an unhandled rejection. Also used by the catalogue guard (WS-ACCESS-3).
 */
export const rejection = (room: string, verdict: RuleRefusal, fenced = false): Promise<void> => {
  const refused = Promise.reject(new RuleRejection(room, verdict, fenced))
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

/**
 * The relay's rules (RULES-4): which rooms have rules, one validating {@link RulesView} per loaded ruled room (kept
 * with the room object, so dropped when the room unloads), and who each connection writes as. Every update to a ruled
 * room passes {@link RelayRules.screen} after the app's `onUpdate` hook accepted it and before the room stores it.
 */
export class RelayRules {
  readonly #find: (room: string) => Rules | null
  readonly #logger: Logger
  readonly #views = new RoomViews<RulesView>((view) => view.destroy())
  readonly #writers = new WeakMap<RelayPeer, Writer>()
  readonly #fences = new WriterFences()
  #viewBuilds = 0

  constructor(option: RelayRulesOption, logger: Logger) {
    this.#logger = logger
    if (typeof option === 'function') {
      this.#find = (room) => option(room) ?? null
    } else {
      const patterns = Object.entries(option).map(([p, rules]) => [patternOf(p), rules] as const)
      this.#find = (room) => patterns.find(([p]) => p.test(room))?.[1] ?? null
    }
  }

  /**
   * How many validating views were built from a room's whole state so far, over every room (RULES-4.8: the costly
   * step, bounded per refusal; an update missing clocks costs none).
   */
  get viewBuilds(): number {
    return this.#viewBuilds
  }

  /** Whether `room` has rules (RULES-4.1): every write to it is checked. */
  ruled(room: string): boolean {
    return this.#find(room) !== null
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
    // RULES-5.1: behind a refusal, a writer's updates are refused unchecked until it says it rolled back.
    const rollbacks = this.#fences.admit(from, update)
    if (rollbacks === null) return rejection(room.docId, FENCED, true)
    // RULES-4.6: the room took something by another way (another node, an epoch switch, a compaction, a refusal of
    // its own): the view starts again from the room's state.
    let view = this.#views.current(room, (v) => v.broken)
    if (view === null) {
      view = this.#views.set(room, new RulesView(rules, room.log.state()))
      this.#viewBuilds++
    }
    const writer = this.#writers.get(from) ?? ANONYMOUS_WRITER
    // RULES-4.8: an update missing clocks the view lacks (RULES-4.4) is refused without being applied, so the view
    // stays usable and the next check costs no rebuild from the whole document.
    const verdict = view.skips(update) ? MISSING : view.check(update, writer)
    if (!verdict.ok) {
      this.#fences.fence(from, rollbacks)
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
    return this.#views.settle(room, view, accept)
  }
}
