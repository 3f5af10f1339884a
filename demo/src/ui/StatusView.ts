import type { WeftDoc } from '@weft/providers'
import { h } from './h.js'

/**
 * The sync status of the open document (offline, connecting, syncing, synced, and the pending count), and the
 * switch that takes this client offline and back (`handle.connect()` / `handle.disconnect()`, which drive every transport).
 */
export class StatusView {
  readonly element: HTMLElement
  readonly #pill = h('span', { class: 'status', 'data-testid': 'sync-status' })
  readonly #switch = h('input', { type: 'checkbox', 'data-testid': 'online-switch' })
  readonly #error = h('span', { class: 'error', 'data-testid': 'sync-error', hidden: '' }, '⚠')
  #handle: WeftDoc | null = null
  readonly #onStatus = () => this.#show()
  readonly #onError = ({ error }: { error: Error }) => {
    this.#error.hidden = false
    this.#error.title = `Last error: ${error.message}`
  }

  constructor(onOnline: (online: boolean) => void) {
    this.#switch.checked = true
    this.#switch.addEventListener('change', () => onOnline(this.#switch.checked))
    this.element = h(
      'div',
      { class: 'status-bar' },
      this.#error,
      this.#pill,
      h('label', { class: 'switch' }, this.#switch, ' Online'),
    )
    this.#show()
  }

  /** Follows another document (or none). */
  attach(handle: WeftDoc | null, online: boolean): void {
    this.#handle?.off('status', this.#onStatus)
    this.#handle?.off('error', this.#onError)
    this.#handle = handle
    this.#switch.checked = online
    this.#error.hidden = true
    handle?.on('status', this.#onStatus)
    handle?.on('error', this.#onError)
    this.#show()
  }

  #show(): void {
    const status = this.#handle?.status ?? 'offline'
    const pending = this.#handle?.pendingChanges ?? 0
    this.#pill.dataset['status'] = status
    this.#pill.textContent = pending > 0 ? `${status} · ${pending} pending` : status
    this.#pill.title =
      status === 'synced'
        ? 'Every change is stored by the relay (or received by every peer)'
        : `${pending} local change(s) not yet confirmed`
  }
}
