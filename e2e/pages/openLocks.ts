// Runs in Chromium: exposes the workspace's open locks (WS-CLIENT-5.3), which use navigator.locks here, on
// window.openLocks so that a test drives them from two tabs of one origin.
import { defaultOpenLocks } from '../../providers/src/workspace/OpenLocks.js'

const locks = defaultOpenLocks()
const held = new Map<string, () => void>()
;(window as unknown as { openLocks: unknown }).openLocks = {
  web: typeof navigator.locks?.request === 'function',
  hold: async (name: string) => {
    held.set(name, await locks.hold(name))
  },
  release: (name: string) => {
    held.get(name)?.()
    held.delete(name)
  },
  ifFree: async (name: string) => (await locks.ifFree(name, () => Promise.resolve('ran'))) ?? 'skipped',
}
;(window as unknown as { ready: boolean }).ready = true
