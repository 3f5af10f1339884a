/**
 * Building blocks of the sync engine (`@weft/core/sync-engine`), for servers that speak Weft's sync protocol
 * without a `Y.Doc` (the relay): the per-path protocol object, written once for clients and servers, and the epoch
 * rules as pure functions. An app syncing a document uses `SyncSession` from `@weft/core` instead.
 * @module @weft/core/sync-engine
 */
export { ProtocolPath, MIN_PEER_MESSAGE_SIZE } from './ProtocolPath.js'
export type {
  EpochOffering,
  ProtocolDocState,
  ProtocolPathOptions,
  ProtocolSide,
  ProtocolSink,
  Rejection,
  Sendable,
} from './protocolPorts.js'
export {
  admitUpdate,
  answersRequest,
  decideEnter,
  epochIdOf,
  epochOpen,
  epochTag,
  judgeOffer,
  judgePeerEpoch,
  type EnterDecision,
  type OfferJudgement,
} from './epochRules.js'
export { buildEpochDoc, planFollow, type FollowPlan } from './followOffer.js'
export {
  DocSet,
  DocSetReconciler,
  docDigest,
  type DocSetEntry,
  type DocSetReconcileOptions,
} from './docSetReconcile.js'
export {
  RoundRobinSender,
  type RoundRobinSenderOptions,
  type RoundRobinSink,
} from '../transport/RoundRobinSender.js'
