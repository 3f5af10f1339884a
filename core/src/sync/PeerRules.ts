import * as Y from 'yjs'
import type { PeerId } from '../ids.js'
import { DEPENDS_ON_REJECTED, RulesView } from '../rules/RulesView.js'
import { ANONYMOUS_WRITER, type Rules, type RulesVerdict, type Writer } from '../schema/rules.js'
import type { Transport } from '../transport/Transport.js'

/**
 * Rules a {@link SyncSession} checks on what its peers send (docs/spec/rules.md, RULES-6): the same rules a relay
 * runs, applied by every honest peer to updates that arrive on a path that is not an authority.
 */
export interface SessionRules {
  /** The document's rules (`defineRules` from `@weft/core/rules`), the same module the relay loads. */
  readonly rules: Rules
  /**
   * Who writes on a peer path (RULES-6.4). Default: {@link ANONYMOUS_WRITER} for every peer (peers have no verified
   * identity), so a rule that needs a subject (`owner`, a role claim) refuses every peer's change to such a record.
   * Return the session's own writer for transports whose peers are the same user (a `BroadcastChannel` between tabs of
   * one signed-in browser profile); whatever it returns is trusted as it is.
   */
  readonly peerWriter?: (transport: Transport, peer: PeerId) => Writer
  /**
   * Whether a path is an authority (RULES-6.1): a relay that checks the same rules, whose updates are applied without
   * a check. Default: no path (`openDocument` makes the transport added with `relay: true` the authority). Mark only a
   * relay you connect to (your own server, over an authenticated connection) that runs these rules: anything else a
   * peer claims is not proof.
   */
  readonly authority?: (transport: Transport, peer: PeerId) => boolean
}

/** What {@link PeerRules.screen} decided about one update. */
export type Screened =
  /** Checked and accepted: the view holds it; apply it to the document inside {@link PeerRules.taking}. */
  | { readonly kind: 'accepted' }
  /**
   * Refused without a check: the path is fenced behind an earlier refusal (RULES-5.1, RULES-6.3), or muted until its
   * next sync step 2 (RULES-6.8).
   */
  | { readonly kind: 'fenced' }
  /** It needs structs or deletions the document lacks (a lost message, or content refused before): not applied. */
  | { readonly kind: 'missing' }
  /** Refused by a rule. */
  | { readonly kind: 'refused'; readonly verdict: Extract<RulesVerdict, { ok: false }> }

const ACCEPTED: Screened = Object.freeze({ kind: 'accepted' })
const FENCED: Screened = Object.freeze({ kind: 'fenced' })
const MISSING: Screened = Object.freeze({ kind: 'missing' })

/**
 * The session's side of RULES-6: one {@link RulesView} of the document (built on the first check from the document's
 * state, kept in step with every update the document takes, dropped after a refusal, a rollback or an epoch switch),
 * who writes on each path, and the fences. Which paths are authorities the session decides (its `authority`).
 */
export class PeerRules<P extends object = object> {
  readonly #options: SessionRules
  #doc: Y.Doc
  #view: RulesView | null = null
  /** RULES-6.3: paths whose writer was told of a refusal and has not said `rolled-back` yet. */
  readonly #fenced = new WeakSet<P>()
  /** RULES-6.8: paths whose update broke the view (refused, or left pending) and was not told: until a step 2. */
  readonly #muted = new WeakSet<P>()
  #rebuilds = 0
  /** The origin of the update being applied after its check: already in the view. */
  #taking: unknown = null

  constructor(options: SessionRules, doc: Y.Doc) {
    this.#options = options
    this.#doc = doc
  }

  /** Who writes on this path (RULES-6.4). */
  writerOf(transport: Transport, peer: PeerId): Writer {
    return this.#options.peerWriter?.(transport, peer) ?? ANONYMOUS_WRITER
  }

  /** The document changed (an epoch switch), or was changed in a way no update tells (a rollback): rebuild. */
  reset(doc: Y.Doc = this.#doc): void {
    this.#doc = doc
    this.#view?.destroy()
    this.#view = null
  }

  /** Follows every update the document takes (its `update` event), except the one just checked. */
  readonly follow = (update: Uint8Array, origin: unknown): void => {
    if (this.#view === null || (this.#taking !== null && origin === this.#taking)) return
    this.#view.follow(update)
  }

  /** Applies an accepted update to the document (`apply`), which the view holds already. */
  taking(origin: P, apply: () => void): void {
    this.#taking = origin
    try {
      apply()
    } finally {
      this.#taking = null
    }
  }

  /** How many times the view was built from the whole document (RULES-6.8: at most once per broken view). */
  get rebuilds(): number {
    return this.#rebuilds
  }

  /**
   * Checks `update` of `path` (RULES-6.2) before the document takes it. `step2`: it is a sync step 2, which lifts
   * the path's mute (RULES-6.8) and is checked.
   */
  screen(path: P, update: Uint8Array, writer: Writer, step2 = false): Screened {
    if (this.#fenced.has(path)) return FENCED
    if (this.#muted.has(path)) {
      if (!step2) return FENCED
      this.#muted.delete(path)
    }
    let view = this.#view
    if (view === null || view.broken) {
      view?.destroy()
      view = this.#view = new RulesView(this.#options.rules, Y.encodeStateAsUpdate(this.#doc))
      this.#rebuilds++
    }
    // A gap in a client's clocks (its earlier updates were refused or lost) is seen without applying anything: the
    // view stays as it is (a muted peer's every update would otherwise cost a rebuild from the whole document).
    if (view.skips(update)) return MISSING
    const verdict = view.check(update, writer)
    if (verdict.ok) return ACCEPTED
    // RULES-6.8: the view is broken; the path's later updates build on what broke it: muted, no rebuild for them.
    this.#muted.add(path)
    return verdict.ruleId === DEPENDS_ON_REJECTED ? MISSING : { kind: 'refused', verdict }
  }

  /** RULES-6.3: `path`'s writer was told; its updates are refused unchecked until it says `rolled-back`. */
  fence(path: P): void {
    this.#fenced.add(path)
    this.#muted.delete(path)
  }

  /** The writer of `path` rolled back (`rolled-back`): its updates are checked again. */
  rolledBack(path: P): void {
    this.#fenced.delete(path)
  }

  /** Drops the view. */
  destroy(): void {
    this.reset()
  }
}
