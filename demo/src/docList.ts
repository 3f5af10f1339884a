/**
 * Document ids and links. The list of documents itself is the catalogue of the demo's workspace
 * (`demoWorkspace.ts`): stored in IndexedDB with the documents, synced through the relay and between peers.
 */

/** The workspace every page of one demo server shares: document `D` is the relay room `demo/D`. */
export const DEMO_WORKSPACE = 'demo'

/** A new random document id (`d-` and 12 base-36 characters). */
export const newDocId = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return `d-${Array.from(bytes, (b) => (b % 36).toString(36)).join('')}`
}

/** The document id in the URL (`#doc=<id>`), if any. */
export const docIdFromHash = (hash: string = location.hash): string | null => {
  const id = new URLSearchParams(hash.replace(/^#/, '')).get('doc')
  return id && /^[\w-][\w.-]{0,127}$/.test(id) ? id : null
}

/** The share link of a document: this page's URL with `#doc=<id>`. */
export const shareLink = (id: string): string => {
  const url = new URL(location.href)
  url.hash = `doc=${encodeURIComponent(id)}`
  return url.toString()
}
