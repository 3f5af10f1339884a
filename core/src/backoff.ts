/**
 * The delay before retry number `step` (0 for the first) of a doubling backoff: `min`, then twice as long per step,
 * never more than `max` (ms). Reconnections (WebSocket, signaling), a workspace's stalled background syncs and the
 * relay's failed compactions all back off this way; callers add their own jitter.
 */
export const doublingDelay = (min: number, max: number, step: number): number =>
  Math.min(max, min * 2 ** Math.min(Math.max(step, 0), 30))
