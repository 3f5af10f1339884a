import type { Hello } from '../protocol/messages.js'
import { epochClient } from '../storage/epochClient.js'
import { INITIAL_EPOCH, compareEpochs, epochSeq, type EpochRecord } from '../storage/epochRecord.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'

/**
 * The epoch rules of one path (docs/spec/sync-protocol.md SYNC-9.*, relay-protocol.md RELAY-EPOCH-*), as pure
 * functions: sessions and the relay decide with these and differ only in what they do with the answer.
 */

/** The id of the epoch `record` starts (`"0"` for `null`, the initial epoch). */
export const epochIdOf = (record: EpochRecord | null): string => record?.id ?? INITIAL_EPOCH

/**
 * The tag for updates and step-2 answers in `record`'s epoch (SYNC-9.1, COMPACT-6.1): its id outside epoch 0, else
 * `null` (untagged, as stock peers and protocol version 1 send them).
 */
export const epochTag = (record: EpochRecord | null): string | null => record?.id ?? null

/**
 * The epoch a peer is in, judged from its step 1 (SYNC-9.5, RELAY-EPOCH-2): what its hello says (absent: `"0"`); a
 * stock peer cannot say, so outside epoch 0 it counts as being in `ours` only when its state vector is empty or holds
 * the epoch's init writer, else in the epoch `ours` replaced. A malformed epoch id in a hello is a
 * `malformed-message` {@link WeftError}.
 */
export const judgePeerEpoch = (
  ours: EpochRecord | null,
  hello: Hello | null,
  sv: Map<number, number>,
): string => {
  if (hello !== null) {
    const said = hello.epoch ?? INITIAL_EPOCH
    try {
      epochSeq(said)
    } catch (err) {
      throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed epoch id in the hello', { cause: err })
    }
    return said
  }
  if (ours === null || sv.size === 0 || sv.has(epochClient(ours.parent, 'init'))) return epochIdOf(ours)
  return ours.parent
}

/** Whether updates may go to a peer in `peerEpoch`: ours, or (in epoch 0 only) not said yet (COMPACT-5.7). */
export const epochOpen = (ours: EpochRecord | null, peerEpoch: string | null): boolean =>
  peerEpoch === epochIdOf(ours) || (peerEpoch === null && ours === null)

/**
 * Whether an update with epoch tag `tag` from a peer belongs to our epoch (SYNC-9.1, RELAY-EPOCH-2): a tagged update,
 * or any update of a Weft peer (untagged: epoch 0), by its tag; a stock peer's by the epoch it was judged to be in.
 * `'stale'`: a stock peer outside our epoch (it holds pre-reset state; the relay closes it, a session ignores it).
 */
export const admitUpdate = (
  ours: EpochRecord | null,
  weft: boolean,
  peerEpoch: string | null,
  tag: string | null,
): boolean | 'stale' => {
  if (tag !== null || weft) return (tag ?? INITIAL_EPOCH) === epochIdOf(ours)
  return epochOpen(ours, peerEpoch) || 'stale'
}

/**
 * What to do with a step 1 from a peer judged to be in `theirs` (SYNC-9.2, RELAY-EPOCH-2/3); `before` is the epoch
 * the path was in until now (`null`: first step 1).
 * - `sync`: same epoch, answer with step 2; `reannounce` too when the peer just arrived from another epoch (ask it
 *   again, with our step 1, for what it holds of ours).
 * - `offer`: ours wins: offer our epoch (with the catch-up of theirs we can give).
 * - `announce`: the peer moved to a winning epoch: tell it ours (our step 1) so that it offers its epoch.
 * - `wait`: theirs wins and it was told already: wait for its offer.
 * - `stale`: a stock peer in another epoch (it cannot switch).
 */
export type EnterDecision = 'sync' | 'reannounce' | 'offer' | 'announce' | 'wait' | 'stale'

export const decideEnter = (
  ours: EpochRecord | null,
  before: string | null,
  theirs: string,
  weft: boolean,
): EnterDecision => {
  const changed = before !== null && before !== theirs
  const id = epochIdOf(ours)
  if (theirs === id) return changed ? 'reannounce' : 'sync'
  if (!weft) return 'stale'
  if (compareEpochs(id, theirs) < 0) return 'offer'
  return changed ? 'announce' : 'wait'
}

/**
 * How an offered epoch `record` relates to the epoch `ours` (SYNC-9.3, COMPACT-4, RELAY-EPOCH-4):
 * - `not-winning`: it does not win over ours (COMPACT-4.3: never to a losing epoch, never back). A session takes it as
 *   the answer to an archive request (SYNC-9.7); the relay ignores it.
 * - `child`: it replaced ours: follow it from the current document.
 * - `sibling`: it wins but replaced another epoch (a sibling of ours, or one we passed through): a session follows it
 *   only from that epoch's document and only if nothing happened in ours (COMPACT-4.2); the relay never does.
 */
export type OfferJudgement = 'not-winning' | 'child' | 'sibling'

export const judgeOffer = (record: EpochRecord, ours: string): OfferJudgement => {
  if (compareEpochs(record.id, ours) >= 0) return 'not-winning'
  return record.parent === ours ? 'child' : 'sibling'
}

/**
 * Whether a peer asking for the state of `epoch` (SYNC-9.7, RELAY-EPOCH-8) may be answered: only for an epoch this
 * side left (ours wins over it). Throws `malformed-message` for a malformed epoch id.
 */
export const answersRequest = (ours: EpochRecord | null, epoch: string): boolean => {
  try {
    epochSeq(epoch)
  } catch (err) {
    throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed epoch request', { cause: err })
  }
  return ours !== null && compareEpochs(ours.id, epoch) < 0
}
