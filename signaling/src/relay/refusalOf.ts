/** The reason given to a writer whose update the `onUpdate` hook refused without a string reason (HOOK-3.9). */
export const DEFAULT_REFUSAL_REASON = 'update refused'

/**
 * HOOK-3.9: what an `onUpdate` verdict means, whatever the hook returned (plain JavaScript, an `any`, a forgotten
 * `return`): `null` when it accepts the update, else the reason its writer is closed with. The one place a verdict
 * is read.
 *
 * Accepts: `undefined` and `null` (nothing), `true`, and an object whose `ok` is `true`. Refuses: everything else:
 * `false`, `{ ok: false }`, and anything that is not a verdict (`{ id: 1 }` from `return db.insert(...)`, a string, a
 * number, `{ ok: 0 }`), so a hook's mistake never lets an update through. The reason is the verdict's `reason` when it
 * is a string, else {@link DEFAULT_REFUSAL_REASON}. Never throws (a verdict whose `ok` or `reason` cannot be read
 * refuses with the default reason).
 */
export const refusalOf = (verdict: unknown): string | null => {
  if (verdict === undefined || verdict === null || verdict === true) return null
  if (typeof verdict !== 'object') return DEFAULT_REFUSAL_REASON
  try {
    const { ok, reason } = verdict as { ok?: unknown; reason?: unknown }
    if (ok === true) return null
    return typeof reason === 'string' ? reason : DEFAULT_REFUSAL_REASON
  } catch {
    return DEFAULT_REFUSAL_REASON
  }
}
