import { WebSocket } from 'ws'
import type { DocStore } from '@weft/core'
import { WorkspaceSocket, type WorkspaceSocketOptions } from '../../../src/index.js'

/**
 * A `WorkspaceSocket` of workspace `team` (unless `options.workspace` says otherwise) to a relay on 127.0.0.1:`port`
 * (or a `ws://` base URL), over `ws`, reconnecting after 20 ms at first: the link of the tests that run `weft serve`.
 */
export const relaySocket = (
  at: number | string,
  store: DocStore,
  options: Partial<WorkspaceSocketOptions> = {},
): WorkspaceSocket =>
  new WorkspaceSocket({
    url: typeof at === 'number' ? `ws://127.0.0.1:${at}` : at,
    workspace: 'team',
    store,
    WebSocketPolyfill: WebSocket,
    minReconnectMs: 20,
    ...options,
  })
