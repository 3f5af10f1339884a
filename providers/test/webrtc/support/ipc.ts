/** Messages between a test and a peer child process (over Node IPC, `serialization: 'advanced'`). */

/** Options of a transport or provider created in a child. */
export interface ChildPeerOptions {
  readonly room: string
  readonly signaling: readonly string[]
  readonly password?: string
  readonly maxConns?: number
  readonly peerId?: string
}

/** Test → child. */
export type Command =
  | { readonly cmd: 'create'; readonly options: ChildPeerOptions }
  | { readonly cmd: 'connect' }
  | { readonly cmd: 'disconnect'; readonly peer?: string }
  | { readonly cmd: 'send'; readonly data: Uint8Array; readonly to?: string }
  | { readonly cmd: 'destroy' }
  | { readonly cmd: 'insert'; readonly text: string }
  | { readonly cmd: 'text' }
  | { readonly cmd: 'wait-text'; readonly text: string }

/** A command with its request id. */
export type Request = Command & { readonly id: number }

/** Child → test: a reply, an event of the current transport (`gen`), or a fault. */
export type ChildMessage =
  | { readonly kind: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly id: number; readonly ok: false; readonly error: string }
  | {
      readonly kind: 'event'
      readonly gen: number
      readonly event: string
      readonly payload: Record<string, unknown>
    }
  | { readonly kind: 'fault'; readonly error: string }
  | { readonly kind: 'ready' }
