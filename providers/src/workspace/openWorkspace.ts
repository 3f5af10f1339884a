import {
  WeftError,
  WeftErrorCode,
  CATALOGUE_DOC,
  workspaceDocId,
  type Fields,
  type StoredDoc,
} from '@weft/core'
import { catalogueSchema, requireWorkspaceId, type CatalogueRecord } from './catalogue.js'
import { deferFirstLoad, readListSnapshot, schemaFingerprint } from './listSnapshot.js'
import { LocalIndex } from './LocalIndex.js'
import { Workspace } from './Workspace.js'
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_RETENTION_MS,
  openWorkspaceDoc,
  type OpenWorkspaceOptions,
  type WorkspaceConfig,
} from './workspaceConfig.js'

/**
 * Opens workspace `id` offline-first (WS-CLIENT-1.1): loads this device's bookkeeping and the catalogue from
 * `store` (resolves once they are loaded, so the list renders before any network), then syncs the catalogue first,
 * then the documents the preload policy keeps. Rejects with `invalid-argument` for an invalid workspace id or an
 * app field named like a catalogue field, and if the store cannot be read.
 *
 * Warm open (WS-CLIENT-8): when the store holds a snapshot of the list that still describes the stored catalogue,
 * the list is read from it and the catalogue's stored state is applied to its `Y.Doc` after the open (in the next
 * macrotask, or at once when the app reads `catalogue` or `typed`, writes, or connects). Until then the catalogue
 * is not connected.
 */
export const openWorkspace = async <M extends Fields = Record<never, never>>(
  options: OpenWorkspaceOptions<M>,
): Promise<Workspace<M>> => {
  requireWorkspaceId(options.id)
  const relay = options.relay
  const link = relay !== undefined && typeof relay !== 'function' ? relay : null
  if (link && link.workspace !== options.id)
    throw new WeftError(
      WeftErrorCode.InvalidArgument,
      `openWorkspace({ id: ${JSON.stringify(options.id)} }): the link is workspace ${JSON.stringify(link.workspace)}`,
    )
  const config: WorkspaceConfig<M> = {
    id: options.id,
    store: options.store,
    link,
    relay: typeof relay === 'function' ? relay : null,
    transports: options.transports ?? [],
    policy: options.preload,
    budget: options.budget ?? Infinity,
    retention: options.retention ?? DEFAULT_RETENTION_MS,
    concurrency: Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY),
    touchMs: Math.max(0, options.touchMs ?? 10_000),
    now: options.now ?? Date.now,
    schema: catalogueSchema((options.schema ?? {}) as M),
    rules: options.rules,
  }
  const connect = options.connect !== false
  // WS-CLIENT-8.1: the catalogue's load is kept back when a current snapshot of the list is stored with it.
  const schema = schemaFingerprint(config.schema)
  let snapshot: Array<CatalogueRecord<M>> | null = null
  const view = deferFirstLoad(config.store, workspaceDocId(config.id, CATALOGUE_DOC), (stored) => {
    snapshot = readListSnapshot(stored, schema) as Array<CatalogueRecord<M>> | null
    return snapshot !== null
  })
  const [index, catalogue] = await Promise.all([
    LocalIndex.load(config.store, config.id),
    openWorkspaceDoc(config, CATALOGUE_DOC, false, view.store),
  ])
  const stored: StoredDoc | undefined = view.taken()
  const deferred = stored && snapshot ? { stored, records: snapshot } : null
  if (!deferred && connect) {
    catalogue.connect()
    void link?.connect()
  }
  return new Workspace({ config, catalogue, index, connect, deferred })
}
