/**
 * The Node app of docs/guides/workspaces.md ("A notes app"), exactly as the guide shows it; run by guide.test.ts
 * against a real `weft serve`. Keep it in step with the guide.
 */
import { WebSocket } from 'ws'
import { s } from '@weft/core'
import { openWorkspace, WorkspaceSocket } from '@weft/providers'
import { SqliteDocStore } from '@weft/providers/node'

export async function notesApp(serverUrl: string, path: string, title: string): Promise<string[]> {
  const store = new SqliteDocStore({ path }) // every document of the workspace, and the catalogue, in one file
  const workspace = await openWorkspace({
    id: 'team-42',
    store,
    // One WebSocket for the whole workspace (ws://host/workspace/team-42); the catch-up cursor is kept in `store`.
    relay: new WorkspaceSocket({ url: serverUrl, workspace: 'team-42', store, WebSocketPolyfill: WebSocket }),
    schema: { color: s.enum(['yellow', 'blue']).optional('yellow') }, // the app's metadata of each document
    preload: { recent: 50 }, // kept locally and in sync; the others are fetched when opened
    budget: 50 * 1024 * 1024, // evict the least recently opened documents past 50 MB (never pending changes)
  })
  await workspace.catalogue.whenSynced // the list as the relay has it (it rendered from the store before)

  const created = workspace.create({ title, color: 'blue' })
  if (!created.ok) throw new Error(created.message) // a bad value writes nothing
  const note = await workspace.open(created.id) // the same handle openDoc returns
  note.doc.getText('body').insert(0, `${title}\n`)
  await note.whenSaved() // the relay durably stored it
  await workspace.close(created.id) // no Y.Doc left for it
  await workspace.catalogue.whenSaved() // the new record too

  const titles = workspace.list.entries.map((entry) => entry.title)
  await workspace.destroy()
  await store.close() // the workspace leaves the store open: the caller owns it
  return titles
}
