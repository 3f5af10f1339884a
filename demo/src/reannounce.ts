import type { Awareness } from 'y-protocols/awareness'

/**
 * Raises this client's awareness clock by two and re-sets its state, before reconnecting. Peers that saw this
 * client leave removed its state with clock + 1 (y-protocols' rule, which the relay follows too) and ignore any
 * state whose clock is not higher; without this, a client coming back online stays invisible to them until two
 * awareness renewals (about 30 s) have passed.
 * TODO(core): the sync session should do this when a path opens; then this goes.
 */
export const reannounce = (awareness: Awareness): void => {
  const state = awareness.getLocalState()
  if (state === null) return
  const meta = awareness.meta.get(awareness.clientID)
  if (meta) meta.clock += 1
  awareness.setLocalState(state)
}
