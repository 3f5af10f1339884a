/** A document this browser knows (offline-first: the list lives in localStorage, not on a server). */
export interface DocEntry {
  readonly id: string
  readonly title: string
  readonly openedAt: number
}

const KEY = 'weft-demo:docs'

/** Known documents, most recently opened first. */
export const listDocs = (): DocEntry[] => {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(KEY) ?? '[]')
    if (!Array.isArray(raw)) return []
    return raw
      .filter((e): e is DocEntry => {
        const r = e as Record<string, unknown>
        return (
          typeof r['id'] === 'string' && typeof r['title'] === 'string' && typeof r['openedAt'] === 'number'
        )
      })
      .sort((a, b) => b.openedAt - a.openedAt)
  } catch {
    return []
  }
}

const save = (docs: readonly DocEntry[]): void => localStorage.setItem(KEY, JSON.stringify(docs))

/** Adds or refreshes a document in the list. */
export const rememberDoc = (id: string, title?: string): void => {
  const docs = listDocs()
  const old = docs.find((d) => d.id === id)
  save([
    { id, title: title ?? old?.title ?? 'Untitled', openedAt: Date.now() },
    ...docs.filter((d) => d.id !== id),
  ])
}

/** Updates a document's title in the list (the title itself lives in the document). */
export const renameDoc = (id: string, title: string): void => {
  save(listDocs().map((d) => (d.id === id ? { ...d, title } : d)))
}

/** A new random document id (`d-` and 12 base-36 characters). */
export const newDocId = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return `d-${Array.from(bytes, (b) => (b % 36).toString(36)).join('')}`
}

/** The document id in the URL (`#doc=<id>`), if any. */
export const docIdFromHash = (hash: string = location.hash): string | null => {
  const id = new URLSearchParams(hash.replace(/^#/, '')).get('doc')
  return id && /^[\w.-]{1,128}$/.test(id) ? id : null
}

/** The share link of a document: this page's URL with `#doc=<id>`. */
export const shareLink = (id: string): string => {
  const url = new URL(location.href)
  url.hash = `doc=${encodeURIComponent(id)}`
  return url.toString()
}
