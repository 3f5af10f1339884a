/** How an item names its parent type: by its left or right origin (the neighbour's parent), by id, or as a root. */
export type ParentLink = 'origin' | 'right' | 'item' | 'root'

const LINK_CODE: Record<ParentLink, number> = { root: 0, item: 1, origin: 2, right: 3 }
const UNKNOWN = -1
const VISITING = -2

/**
 * The nesting depth of shared types within one update (SYNC-3.5), computed from the items' parent links without
 * building a document: a type item's depth is its parent type's plus one, a root type's child has depth 1, and an
 * item that names its parent through an origin has that neighbour's parent. References to items outside the update
 * count as a root (the depth is the one the update builds itself). Iterative: a crafted chain of 100,000 nested
 * types must not overflow the validator's stack either.
 */
export class UpdateNesting {
  readonly #start: number[] = []
  readonly #length: number[] = []
  readonly #isType: boolean[] = []
  readonly #link: number[] = []
  readonly #refClient: number[] = []
  readonly #refClock: number[] = []
  /** Per client, the indexes of its items in clock order. */
  readonly #byClient = new Map<number, number[]>()
  #current: number[] = []
  #types = 0

  /** Items that follow belong to `client` (each client's section of an update lists its structs by clock). */
  startClient(client: number): void {
    let list = this.#byClient.get(client)
    if (!list) this.#byClient.set(client, (list = []))
    else if (list.length > 0) throw new Error(`client ${client} appears twice`)
    this.#current = list
  }

  /** One item of the current client. */
  item(
    clock: number,
    length: number,
    isType: boolean,
    link: ParentLink,
    refClient: number,
    refClock: number,
  ): void {
    this.#current.push(this.#start.length)
    this.#start.push(clock)
    this.#length.push(length)
    this.#isType.push(isType)
    this.#link.push(LINK_CODE[link])
    this.#refClient.push(refClient)
    this.#refClock.push(refClock)
    if (isType) this.#types++
  }

  /** The deepest nesting of types in the update (0 without any type item). */
  depth(): number {
    if (this.#types === 0) return 0
    // parentDepth[i]: the depth of the type that contains item i (0: a root type, or not in this update).
    const parentDepth = new Int32Array(this.#start.length).fill(UNKNOWN)
    let deepest = 0
    const stack: number[] = []
    for (let i = 0; i < this.#start.length; i++) {
      if (!this.#isType[i]) continue
      stack.push(i)
      while (stack.length > 0) {
        const top = stack[stack.length - 1] as number
        if ((parentDepth[top] as number) >= 0) {
          stack.pop()
          continue
        }
        const target = this.#link[top] === 0 ? -1 : this.#find(top)
        const known = target < 0 ? 0 : (parentDepth[target] as number)
        if (known === UNKNOWN) {
          parentDepth[top] = VISITING
          stack.push(target)
          continue
        }
        stack.pop()
        if (target < 0 || known === VISITING) {
          parentDepth[top] = 0 // a root, outside the update, or a cycle (Yjs leaves those pending)
        } else if (this.#link[top] === LINK_CODE.item) {
          parentDepth[top] = this.#isType[target] ? known + 1 : 0
        } else {
          parentDepth[top] = known
        }
      }
      deepest = Math.max(deepest, (parentDepth[i] as number) + 1)
    }
    return deepest
  }

  /** The index of the item that holds the clock `top` refers to, or -1 when it is not in the update. */
  #find(top: number): number {
    const list = this.#byClient.get(this.#refClient[top] as number)
    if (!list || list.length === 0) return -1
    const clock = this.#refClock[top] as number
    let lo = 0
    let hi = list.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((this.#start[list[mid] as number] as number) <= clock) lo = mid
      else hi = mid - 1
    }
    const index = list[lo] as number
    const start = this.#start[index] as number
    return start <= clock && clock < start + (this.#length[index] as number) ? index : -1
  }
}
