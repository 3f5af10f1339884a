import { performance } from 'node:perf_hooks'
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
import { changesNothing } from '../changesNothing.js'
import type { HeldInput, Hold } from '../HeldInput.js'
import { refusedUpdate, type RelayPeer, type RelayRoom } from '../RelayRoom.js'
import { RebuildBudget, type RebuildBudgetOptions } from './RebuildBudget.js'
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

/** Who pays for the rebuilds of a connection the relay knows nothing of (the scale-out bus, a test's peer). */
const ANONYMOUS_PAYER = 'anonymous'

const patternOf = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  )

/** A room's updates waiting for its view to be rebuilt (RULES-4.9), in arrival order. */
interface Waiting {
  /** Settles once every update queued so far was screened (never rejects). */
  tail: Promise<void>
  count: number
}

/** A promise for an update's outcome and what settles it (with the durability or refusal it gets; first call wins). */
const settled = (): { outcome: Promise<void>; settle: (outcome: Promise<void>) => void } => {
  let settle!: (outcome: Promise<void>) => void
  const outcome = new Promise<void>((resolve) => (settle = resolve))
  return { outcome, settle }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The relay's rules (RULES-4): which rooms have rules, one validating {@link RulesView} per loaded ruled room (kept
 * with the room object, so dropped when the room unloads), and who each connection writes as. Every update to a ruled
 * room passes {@link RelayRules.screen} after the app's `onUpdate` hook accepted it and before the room stores it.
 *
 * RULES-4.9: a refusal spoils the room's view; its rebuild is charged to the refused writer under a
 * {@link RebuildBudget}, and while that budget is spent the room's updates wait, in order, and are checked after the
 * rebuild. Only that room waits; nothing is refused for the budget.
 */
export class RelayRules {
  readonly #find: (room: string) => Rules | null
  readonly #logger: Logger
  readonly #views = new RoomViews<RulesView>((view) => view.destroy())
  readonly #writers = new WeakMap<RelayPeer, Writer>()
  /** Who pays for the rebuilds a connection's refusals cause (RULES-4.9): its subject, else its address. */
  readonly #payers = new WeakMap<RelayPeer, string>()
  readonly #fences = new WriterFences()
  readonly #budget: RebuildBudget
  /** Rooms whose view a refusal spoiled, and who pays for the rebuild. */
  readonly #spoiled = new WeakMap<RelayRoom, string>()
  readonly #waiting = new WeakMap<RelayRoom, Waiting>()
  /** RULES-4.9: what identified connections hold, their updates waiting for a rebuild among it. */
  readonly #inputs = new WeakMap<RelayPeer, HeldInput>()
  #viewBuilds = 0

  /** `budget`: how much of the relay's time rebuilds after refusals may take (RULES-4.9). */
  constructor(option: RelayRulesOption, logger: Logger, budget: RebuildBudgetOptions = {}) {
    this.#logger = logger
    this.#budget = new RebuildBudget(budget)
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

  /**
   * `peer` writes as the grant of `context` (its subject and claims); `input`, when given, holds its updates that
   * wait for a rebuild (RULES-4.9: charged, bounded, dropped when the connection closes).
   */
  identify(peer: RelayPeer, context: ConnectionContext | undefined, input?: HeldInput): void {
    if (input) this.#inputs.set(peer, input)
    const grant = context?.grant
    if (grant) this.#writers.set(peer, { subject: grant.subject, claims: grant.claims ?? {} })
    const subject = grant?.subject ?? context?.subject
    if (subject !== undefined) this.#payers.set(peer, `sub:${subject}`)
    else if (context) this.#payers.set(peer, `addr:${context.clientAddress}`)
  }

  /** `peer` closed: what it holds is dropped (HOOK-3.4: its updates waiting for a rebuild are never checked). */
  leave(peer: RelayPeer): void {
    this.#inputs.get(peer)?.drop()
  }

  /**
   * RULES-4.9: settles once the updates of `room` that wait for its view's rebuild were screened (their outcome
   * known, accepted ones taken by the room); `null` when none wait. An acknowledgement must not pass them.
   */
  queued(room: RelayRoom): Promise<void> | null {
    return this.#waiting.get(room)?.tail ?? null
  }

  /**
   * RULES-4.1, 4.2: checks `update` of `from` to `room` if the room has rules, and calls `accept` (which stores and
   * forwards it) only if it is accepted. A refused update is never stored or forwarded; the returned promise rejects
   * with an error whose {@link ruleRefusalOf} is the verdict (the connection tells its writer, RULES-4.3). RULES-4.9:
   * while the room's view waits for its rebuild budget, the update waits behind the room's earlier ones (`accept`
   * is called later, in arrival order).
   */
  screen(room: RelayRoom, update: Uint8Array, from: RelayPeer, accept: () => Promise<void>): Promise<void> {
    const rules = this.#find(room.docId)
    if (rules === null) return accept()
    const check = () => this.#screenNow(room, rules, update, from, accept)
    if (!this.#waiting.has(room) && this.#delay(room, from) === 0) return check()
    // A fenced writer's update would be refused unchecked after the wait too (the fence only grows, a writer's
    // `rolled-back` count is fixed on arrival): refused now, it is not held (RULES-5.1).
    if (this.#fences.admit(from, update) === null) return rejection(room.docId, FENCED, true)
    const input = this.#inputs.get(from)
    if (!input) {
      const { outcome, settle } = settled()
      this.#enqueue(room, from, check, settle)
      return outcome
    }
    // RULES-4.9, HOOK-3.6: a waiting update is held by its connection (charged to the input budget, bounded; past the
    // bound the connection is closed); HOOK-3.4: dropped, never stored or acknowledged, once the connection closes.
    const { outcome, settle } = settled()
    const hold = input.hold(update.byteLength, 'a rules rebuild', () => settle(refusedUpdate(room.docId)))
    if (!hold) return refusedUpdate(room.docId)
    this.#enqueue(room, from, () => (hold.release() ? check() : refusedUpdate(room.docId)), settle, hold)
    return outcome
  }

  /**
   * How long (ms) the room's next check, of an update of `from`, must wait for the budget of the view build it needs
   * (0: the room's view is current, or the budget allows the build now).
   */
  #delay(room: RelayRoom, from: RelayPeer): number {
    if (this.#views.current(room, (v) => v.broken) !== null) return 0
    return this.#budget.wait(this.#payer(room, from))
  }

  /**
   * RULES-4.9, RULES-4.10: who a build of the room's view is charged to: the refused writer whose refusal spoiled it,
   * else the writer whose update needs it (a room's first view, after another node's or an epoch switch's change).
   */
  #payer(room: RelayRoom, from: RelayPeer): string {
    return this.#spoiled.get(room) ?? this.#payers.get(from) ?? ANONYMOUS_PAYER
  }

  /**
   * Queues `check` behind the room's waiting updates; `settle` gets its outcome. `hold`: no wait for the budget once
   * it was dropped (`check` then refuses it unchecked).
   */
  #enqueue(
    room: RelayRoom,
    from: RelayPeer,
    check: () => Promise<void>,
    settle: (outcome: Promise<void>) => void,
    hold?: Hold,
  ): void {
    let waiting = this.#waiting.get(room)
    if (!waiting) this.#waiting.set(room, (waiting = { tail: Promise.resolve(), count: 0 }))
    const queue = waiting
    queue.count++
    queue.tail = queue.tail.then(async () => {
      for (let ms = this.#delay(room, from); ms > 0 && !hold?.dropped; ms = this.#delay(room, from))
        await sleep(ms)
      try {
        settle(check())
      } catch (err) {
        settle(Promise.reject(err instanceof Error ? err : new Error(String(err))))
      }
      if (--queue.count === 0 && this.#waiting.get(room) === queue) this.#waiting.delete(room)
    })
  }

  /**
   * Builds the room's view from its log: its parts as they are (no merge of the whole state first, RULES-4.9), charged
   * to `payer` (RULES-4.10: every build, whatever made it needed).
   */
  #build(room: RelayRoom, rules: Rules, payer: string): RulesView {
    this.#viewBuilds++
    const start = performance.now()
    const view = this.#budget.charge(payer, () => {
      try {
        return new RulesView(rules, room.log.parts())
      } catch {
        // A part Yjs refuses on its own: the log's merged state leaves such parts out (RELAY-9.1).
        return new RulesView(rules, room.log.state())
      }
    })
    this.#logger.debug(
      { room: room.docId, payer, ms: Math.round(performance.now() - start) },
      'rules view built',
    )
    return view
  }

  #screenNow(
    room: RelayRoom,
    rules: Rules,
    update: Uint8Array,
    from: RelayPeer,
    accept: () => Promise<void>,
  ): Promise<void> {
    // RULES-5.1: behind a refusal, a writer's updates are refused unchecked until it says it rolled back.
    const rollbacks = this.#fences.admit(from, update)
    if (rollbacks === null) return rejection(room.docId, FENCED, true)
    // RELAY-3.9: an update that adds nothing to the room touches no record (and, not taken by the room, would make
    // the view differ from the room's log count: RULES-4.10).
    if (changesNothing(room.log, update)) return accept()
    // RULES-4.6: the room took something by another way (another node, an epoch switch, a refusal of its own; not a
    // compaction, which changes no content, RULES-4.10): the view starts again from the room's state.
    let view = this.#views.current(room, (v) => v.broken)
    if (view === null) {
      // RULES-4.9, RULES-4.10: every build is charged (a refusal's to the refused writer) and waited for (`#delay`).
      const payer = this.#payer(room, from)
      this.#spoiled.delete(room)
      view = this.#views.set(room, this.#build(room, rules, payer))
    }
    const writer = this.#writers.get(from) ?? ANONYMOUS_WRITER
    // RULES-4.8: an update missing clocks the view lacks (RULES-4.4) is refused without being applied, so the view
    // stays usable and the next check costs no rebuild from the whole document.
    const verdict = view.skips(update) ? MISSING : view.check(update, writer)
    if (!verdict.ok) {
      this.#fences.fence(from, rollbacks)
      if (view.broken) this.#spoiled.set(room, this.#payers.get(from) ?? ANONYMOUS_PAYER)
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
