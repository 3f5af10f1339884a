/**
 * Hocuspocus, loaded at run time through a specifier TypeScript does not follow: the packages' `source` export
 * points at their TypeScript sources, which do not typecheck under this repository's settings (the project's
 * typecheck uses the `source` condition). Only the few members the benchmark uses are typed here. Run Hocuspocus
 * in processes started without `--conditions=source`, so that Node resolves the packages' built files.
 */
import type * as Y from 'yjs'

/** The part of `@hocuspocus/server`'s `Server` the benchmark uses. */
export interface HocuspocusServerLike {
  listen(): Promise<unknown>
  readonly address: { readonly port: number }
}

/** Constructor options of `@hocuspocus/server`'s `Server` that the benchmark sets. */
export interface HocuspocusServerOptions {
  readonly port: number
  readonly address: string
  readonly quiet: boolean
  readonly stopOnSignals: boolean
  readonly extensions: readonly never[]
}

/** The part of `@hocuspocus/provider`'s `HocuspocusProvider` the benchmark uses. */
export interface HocuspocusProviderLike {
  on(event: 'synced', listener: (data: { state: boolean }) => void): void
  on(event: 'close', listener: (data: { event: { code: number } }) => void): void
  destroy(): void
}

/** Constructor options of `HocuspocusProvider` that the benchmark sets. */
export interface HocuspocusProviderOptions {
  readonly url: string
  readonly name: string
  readonly document: Y.Doc
  readonly WebSocketPolyfill: unknown
}

const load = async <T>(specifier: string): Promise<T> => (await import(specifier)) as T

/** `@hocuspocus/server`. */
export const loadHocuspocusServer = () =>
  load<{ Server: new (options: HocuspocusServerOptions) => HocuspocusServerLike }>('@hocuspocus/server')

/** `@hocuspocus/provider`. */
export const loadHocuspocusProvider = () =>
  load<{ HocuspocusProvider: new (options: HocuspocusProviderOptions) => HocuspocusProviderLike }>(
    '@hocuspocus/provider',
  )

/** The part of `@hocuspocus/provider`'s `HocuspocusProviderWebsocket` (one socket for many documents) used. */
export interface HocuspocusSocketLike {
  connect(): unknown
  disconnect(): void
  destroy(): void
}

/** The part of a `HocuspocusProvider` on a shared socket that the workspace benchmark uses. */
export interface HocuspocusDocProviderLike {
  attach(): void
  on(event: 'synced', listener: () => void): void
  off(event: 'synced', listener: () => void): void
  destroy(): void
}

/** `@hocuspocus/provider` with its multiplexed socket (documents sharing one `HocuspocusProviderWebsocket`). */
export const loadHocuspocusMultiplexed = () =>
  load<{
    HocuspocusProvider: new (options: {
      websocketProvider: HocuspocusSocketLike
      name: string
      document: Y.Doc
    }) => HocuspocusDocProviderLike
    HocuspocusProviderWebsocket: new (options: {
      url: string
      WebSocketPolyfill: unknown
    }) => HocuspocusSocketLike
  }>('@hocuspocus/provider')
