import type { SyncStatus } from '../WeftDoc.js'

/**
 * The status of a workspace from the statuses of the documents it is syncing now (the catalogue, open documents,
 * documents being preloaded) and whether work is queued (WS-CLIENT-6), with the single-document rules:
 * - `synced`: every one is `synced` (so nothing is pending), nothing is queued and `pendingChanges` is 0;
 * - `syncing`: some path is up and the rest is not done (a document `syncing`, or queued work, or pending changes);
 * - `connecting`: no document is syncing or synced and one is connecting;
 * - `offline`: every one is offline.
 */
export const workspaceStatus = (
  statuses: readonly SyncStatus[],
  work: { readonly queued: boolean; readonly pendingChanges: number },
): SyncStatus => {
  if (statuses.length === 0) return 'offline'
  const up = statuses.some((st) => st === 'syncing' || st === 'synced')
  if (up) {
    const done = statuses.every((st) => st === 'synced') && !work.queued && work.pendingChanges === 0
    return done ? 'synced' : 'syncing'
  }
  if (statuses.some((st) => st === 'connecting')) return 'connecting'
  return 'offline'
}
