import { uuidv4 } from 'lib0/random'

/** This user's name and colour, shown to others (awareness field `user`, which y-codemirror.next reads). */
export interface DemoUser {
  /**
   * This browser's user id: the subject (`sub`) of the demo's dev token (devToken.ts), which the relay's rules see as
   * the writer. Made once per browser profile and kept; never shown.
   */
  readonly id: string
  readonly name: string
  readonly color: string
}

const KEY = 'weft-demo:user'
const COLORS = ['#e53935', '#8e24aa', '#3949ab', '#039be5', '#00897b', '#7cb342', '#fb8c00', '#6d4c41']
const NAMES = ['Ada', 'Brook', 'Cyd', 'Dana', 'Eli', 'Fern', 'Gus', 'Hana', 'Ivo', 'Juno', 'Kai', 'Lior']

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T

/** The saved user, or a new random one (saved); a saved user without an id (an older page's) is given one. */
export const loadUser = (): DemoUser => {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(KEY) ?? 'null')
    if (typeof raw === 'object' && raw !== null) {
      const { id, name, color } = raw as Record<string, unknown>
      if (typeof name === 'string' && typeof color === 'string') {
        if (typeof id === 'string' && id !== '') return { id, name, color }
        const user = { id: uuidv4(), name, color }
        saveUser(user)
        return user
      }
    }
  } catch {
    // a corrupt entry: make a new user
  }
  const user = { id: uuidv4(), name: pick(NAMES), color: pick(COLORS) }
  saveUser(user)
  return user
}

/** Saves the user. */
export const saveUser = (user: DemoUser): void => localStorage.setItem(KEY, JSON.stringify(user))

/** The awareness `user` field: y-codemirror.next draws remote carets in `color` and selections in `colorLight`. */
export const awarenessUser = (user: DemoUser): { name: string; color: string; colorLight: string } => ({
  name: user.name,
  color: user.color,
  colorLight: `${user.color}33`,
})
