import { WeftError, WeftErrorCode, CATALOGUE_DOC, type Fields } from '@weft/core'
import { catalogueSchema, requireWorkspaceId } from './catalogue.js'
import { LocalIndex } from './LocalIndex.js'
import { Workspace } from './Workspace.js'
import {
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
    concurrency: Math.max(1, options.concurrency ?? 4),
    touchMs: Math.max(0, options.touchMs ?? 10_000),
    now: options.now ?? Date.now,
    schema: catalogueSchema((options.schema ?? {}) as M),
    rules: options.rules,
  }
  const connect = options.connect !== false
  const index = await LocalIndex.load(config.store, config.id)
  const catalogue = await openWorkspaceDoc(config, CATALOGUE_DOC, connect)
  if (link && connect) void link.connect()
  return new Workspace({ config, catalogue, index, connect })
}
