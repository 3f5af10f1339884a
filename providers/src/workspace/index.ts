/**
 * Workspaces (docs/guides/workspaces.md): a catalogue plus documents opened lazily, preloaded by policy, unloaded
 * when closed and evicted under a storage budget.
 */
export { openWorkspace } from './openWorkspace.js'
export { Workspace, type WorkspaceEvents } from './Workspace.js'
export { DEFAULT_RETENTION_MS, type OpenWorkspaceOptions, type TransportSource } from './workspaceConfig.js'
export type { WorkspaceProgress } from './BackgroundSync.js'
export { WorkspaceList, type WorkspaceEntry, type WorkspaceListEvents } from './WorkspaceList.js'
export type { WorkspaceLink, WorkspaceLinkEvents } from './WorkspaceLink.js'
export {
  catalogueSchema,
  type CatalogueRecord,
  type CatalogueBase,
  type CatalogueFields,
  type CatalogueSchema,
  type CreateInput,
  type EntryFields,
} from './catalogue.js'
export { choosePreload, type PreloadPolicy } from './preloadPolicy.js'
export { planEviction, type EvictionCandidate } from './planEviction.js'
export { workspaceStatus } from './workspaceStatus.js'
