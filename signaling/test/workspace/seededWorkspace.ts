import * as Y from 'yjs'
import { CATALOGUE_COLLECTION, docId, purgeSeenMetaKey } from '@weft/core'
import { SqliteDocStore } from '@weft/sqlite-store'

export const DAY = 24 * 60 * 60 * 1000

/**
 * A store holding workspace `team` as a relay left it: `gone` deleted, and seen deleted by the relay, two days ago
 * (past a retention of a day: WS-PURGE-1, the retention counts from the relay's sighting), `live` not deleted, each
 * with some text.
 */
export const seededWorkspaceStore = async (): Promise<SqliteDocStore> => {
  const store = new SqliteDocStore({ path: ':memory:' })
  const catalogue = new Y.Doc()
  const documents = catalogue.getMap(CATALOGUE_COLLECTION)
  const gone = new Y.Map<unknown>()
  gone.set('deleted', true)
  gone.set('deletedAt', Date.now() - 2 * DAY)
  documents.set('gone', gone)
  documents.set('live', new Y.Map<unknown>())
  await store.append(docId('team/.catalogue'), Y.encodeStateAsUpdate(catalogue))
  await store.setMeta(docId('team/.catalogue'), purgeSeenMetaKey('gone'), String(Date.now() - 2 * DAY))
  for (const id of ['gone', 'live']) {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, `text of ${id}`)
    await store.append(docId(`team/${id}`), Y.encodeStateAsUpdate(doc))
  }
  return store
}
