/**
 * Origin of the transactions an epoch switch makes: building a new epoch's document, and completing the old one with
 * a peer's catch-up (COMPACT-5.1). Neither is a local change (nothing the user did), so neither counts as one.
 */
export const EPOCH_ORIGIN: unique symbol = Symbol('weft-epoch')

/** Whether a transaction origin is an epoch switch's (see {@link EPOCH_ORIGIN}). */
export const isEpochOrigin = (origin: unknown): boolean => origin === EPOCH_ORIGIN
