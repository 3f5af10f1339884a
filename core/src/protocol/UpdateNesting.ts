/** How an item names its parent type: as a root, by id, or through its left or right origin (the neighbour's). */
export const ParentLink = { Root: 0, Item: 1, Origin: 2, Right: 3 } as const
/** Union of every {@link ParentLink} value. */
export type ParentLink = (typeof ParentLink)[keyof typeof ParentLink]

const UNKNOWN = -1
const VISITING = -2
/** Numbers recorded per item: start clock, length, is a type (0/1), parent link, referenced client, clock. */
const STRIDE = 6
/** Numbers recorded per client section: client, first recorded item, end (exclusive), whether it had any item. */
const SECTION_STRIDE = 4
/** Up to this many client sections are searched linearly; more are indexed by a map. */
const SCAN_LIMIT = 8

/**
 * The nesting depth of shared types within one update (SYNC-3.5), computed from the items' parent links without
 * building a document: a type item's depth is its parent type's plus one, a root type's child has depth 1, and an
 * item that names its parent through an origin has that neighbour's parent. References to items outside the update
 * count as a root (the depth is the one the update builds itself). Iterative: a crafted chain of 100,000 nested
 * types must not overflow the validator's stack either. Items are recorded in one growing typed array (no object
 * per item): the walk of a large state stays allocation-free. A root type's child that is not a type (a root map's
 * entry, the first character of a root text) is not recorded (SYNC-3.5a): nothing nests under it, and an item that
 * names it as origin or parent gets depth 0 without it, as it does with it. So a 2.5M-entry root map is walked
 * without recording anything (recording was 1.1 s of its 1.2 s validation, outside review R1).
 */
export class UpdateNesting {
  #items = new Float64Array(STRIDE * 16)
  #count = 0
  #types = 0
  /**
   * Per client, the range of its items (a client's section of an update lists its structs by clock): client, first
   * item, end, {@link SECTION_STRIDE} numbers per section, in one growing typed array (no object per client).
   */
  #sections = new Float64Array(SECTION_STRIDE * 8)
  #sectionCount = 0
  /** The section items are recorded into; -1 before the first {@link UpdateNesting.startClient}. */
  #section = -1
  /**
   * Client to section index, kept only once an update has more than {@link SCAN_LIMIT} sections (then it holds all
   * of them); fewer are searched linearly, so the usual update (one or a few clients) clears no map.
   */
  #index: Map<number, number> | null = null
  /** Items recorded by the walks so far (diagnostics and tests). */
  recorded = 0

  /** Forgets every item, to walk the next update (a large buffer is let go). */
  reset(): void {
    this.#count = 0
    this.#types = 0
    this.#sectionCount = 0
    this.#section = -1
    if (this.#index !== null && this.#index.size > 0) this.#index.clear()
    if (this.#items.length > STRIDE * 4096) this.#items = new Float64Array(STRIDE * 16)
    if (this.#sections.length > SECTION_STRIDE * 4096) this.#sections = new Float64Array(SECTION_STRIDE * 8)
  }

  /** Items that follow belong to `client`. Throws when the client had a section with items already. */
  startClient(client: number): void {
    const known = this.#sectionOf(client)
    const sections = this.#sections
    if (known >= 0) {
      const at = known * SECTION_STRIDE
      if (sections[at + 3] === 1) throw new Error(`client ${client} appears twice`)
      // An earlier, empty section of this client: it starts again here (as a new one would replace it).
      sections[at + 1] = this.#count
      sections[at + 2] = this.#count
      this.#section = known
      return
    }
    if ((this.#sectionCount + 1) * SECTION_STRIDE > sections.length) {
      const grown = new Float64Array(sections.length * 2)
      grown.set(sections)
      this.#sections = grown
    }
    const index = this.#sectionCount++
    const at = index * SECTION_STRIDE
    this.#sections[at] = client
    this.#sections[at + 1] = this.#count
    this.#sections[at + 2] = this.#count
    this.#sections[at + 3] = 0
    this.#section = index
    if (this.#sectionCount > SCAN_LIMIT) {
      const map = (this.#index ??= new Map())
      if (this.#sectionCount === SCAN_LIMIT + 1) {
        for (let i = 0; i < SCAN_LIMIT; i++) map.set(this.#sections[i * SECTION_STRIDE] as number, i)
      }
      map.set(client, index)
    }
  }

  /** The index of `client`'s section, or -1. */
  #sectionOf(client: number): number {
    if (this.#sectionCount > SCAN_LIMIT) return (this.#index as Map<number, number>).get(client) ?? -1
    const sections = this.#sections
    for (let i = 0; i < this.#sectionCount; i++) if (sections[i * SECTION_STRIDE] === client) return i
    return -1
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
    if (this.#section >= 0) this.#sections[this.#section * SECTION_STRIDE + 3] = 1
    // SYNC-3.5a: a root type's child that is not a type holds nothing nested, and finding it gives what missing it
    // does (depth 0): not recorded.
    if (!isType && link === ParentLink.Root) return
    this.recorded++
    if ((this.#count + 1) * STRIDE > this.#items.length) {
      const grown = new Float64Array(this.#items.length * 2)
      grown.set(this.#items)
      this.#items = grown
    }
    const at = this.#count * STRIDE
    const items = this.#items
    items[at] = clock
    items[at + 1] = length
    items[at + 2] = isType ? 1 : 0
    items[at + 3] = link
    items[at + 4] = refClient
    items[at + 5] = refClock
    this.#count++
    if (this.#section >= 0) this.#sections[this.#section * SECTION_STRIDE + 2] = this.#count
    if (isType) this.#types++
  }

  /** The deepest nesting of types in the update (0 without any type item). */
  depth(): number {
    if (this.#types === 0) return 0
    const items = this.#items
    // parentDepth[i]: the depth of the type that contains item i (0: a root type, or not in this update).
    const parentDepth = new Int32Array(this.#count).fill(UNKNOWN)
    let deepest = 0
    const stack: number[] = []
    for (let i = 0; i < this.#count; i++) {
      if (items[i * STRIDE + 2] !== 1) continue
      stack.push(i)
      while (stack.length > 0) {
        const top = stack[stack.length - 1] as number
        if ((parentDepth[top] as number) >= 0) {
          stack.pop()
          continue
        }
        const link = items[top * STRIDE + 3] as number
        const target = link === ParentLink.Root ? -1 : this.#find(top)
        const known = target < 0 ? 0 : (parentDepth[target] as number)
        if (known === UNKNOWN) {
          parentDepth[top] = VISITING
          stack.push(target)
          continue
        }
        stack.pop()
        if (target < 0 || known === VISITING) {
          parentDepth[top] = 0 // a root, outside the update, or a cycle (Yjs leaves those pending)
        } else if (link === ParentLink.Item) {
          parentDepth[top] = items[target * STRIDE + 2] === 1 ? known + 1 : 0
        } else {
          parentDepth[top] = known
        }
      }
      deepest = Math.max(deepest, (parentDepth[i] as number) + 1)
    }
    return deepest
  }

  /** The index of the item that holds the clock item `top` refers to, or -1 when it is not in the update. */
  #find(top: number): number {
    const items = this.#items
    const section = this.#sectionOf(items[top * STRIDE + 4] as number)
    if (section < 0) return -1
    const from = this.#sections[section * SECTION_STRIDE + 1] as number
    const to = this.#sections[section * SECTION_STRIDE + 2] as number
    if (to === from) return -1
    const clock = items[top * STRIDE + 5] as number
    let lo = from
    let hi = to - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((items[mid * STRIDE] as number) <= clock) lo = mid
      else hi = mid - 1
    }
    const start = items[lo * STRIDE] as number
    return start <= clock && clock < start + (items[lo * STRIDE + 1] as number) ? lo : -1
  }
}
