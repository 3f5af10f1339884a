import { createPublicKey, type KeyObject } from 'node:crypto'
import { jwtVerify, errors, type JWTPayload } from 'jose'
import { WeftServerError } from '../WeftServerError.js'
import { RoomGrant, type Access } from './RoomGrant.js'

/**
 * Auth settings. Without `secret` and `publicKey` the server is open: every connection may read and write every
 * room. With one of them every connection needs a JWT whose `rooms` claim lists its rooms (docs/guides/server.md).
 */
export interface AuthOptions {
  /** Shared secret for HS256 tokens. */
  readonly secret?: string | Uint8Array | undefined
  /** Public key (PEM, SPKI) for RS256 or ES256 tokens. */
  readonly publicKey?: string | KeyObject | undefined
  /** Accepted `alg` values; defaults to `["HS256"]` with a secret and `["RS256", "ES256"]` with a public key. */
  readonly algorithms?: readonly string[] | undefined
  /** Required `iss` claim, if any. */
  readonly issuer?: string | undefined
  /** Required `aud` claim, if any. */
  readonly audience?: string | undefined
  /**
   * Clock skew tolerated for `exp`/`nbf`, in seconds (default 0: none). A token
   * is accepted until `exp + clockToleranceSeconds`, and a connection is closed at that moment (AUTH-7).
   */
  readonly clockToleranceSeconds?: number | undefined
}

/** Outcome of {@link Authenticator.authenticate}. */
export type AuthResult =
  { readonly ok: true; readonly grant: RoomGrant } | { readonly ok: false; readonly reason: string }

/** Default {@link AuthOptions.clockToleranceSeconds}: none, a token ends at its `exp`. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 0

const isAccess = (value: unknown): value is Exclude<Access, 'none'> => value === 'read' || value === 'write'

/** Verifies connection tokens and turns their claims into a {@link RoomGrant}. */
export class Authenticator {
  /** `open` (no auth), `secret` (HS256) or `public-key` (RS256/ES256). */
  readonly mode: 'open' | 'secret' | 'public-key'
  readonly #key: Uint8Array | KeyObject | null
  readonly #options: AuthOptions
  readonly #algorithms: string[]
  readonly #toleranceSeconds: number

  constructor(options: AuthOptions = {}) {
    this.#options = options
    const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new WeftServerError(
        'invalid-argument',
        'the auth clock tolerance must be a number of seconds >= 0',
      )
    }
    this.#toleranceSeconds = tolerance
    if (options.secret !== undefined && options.publicKey !== undefined) {
      throw new WeftServerError('invalid-argument', 'give either an auth secret or a public key, not both')
    }
    if (options.secret !== undefined) {
      const key =
        typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
      if (key.byteLength < 32) {
        throw new WeftServerError('invalid-argument', 'the auth secret must be at least 32 bytes for HS256')
      }
      this.mode = 'secret'
      this.#key = key
      this.#algorithms = [...(options.algorithms ?? ['HS256'])]
    } else if (options.publicKey !== undefined) {
      this.mode = 'public-key'
      try {
        this.#key =
          typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey
      } catch (err) {
        throw new WeftServerError('invalid-argument', 'the auth public key is not a valid PEM public key', {
          cause: err,
        })
      }
      this.#algorithms = [...(options.algorithms ?? ['RS256', 'ES256'])]
    } else {
      this.mode = 'open'
      this.#key = null
      this.#algorithms = []
    }
  }

  /** Whether connections need a token. */
  get required(): boolean {
    return this.mode !== 'open'
  }

  /** Clock skew tolerated for `exp`/`nbf`, in seconds. */
  get clockToleranceSeconds(): number {
    return this.#toleranceSeconds
  }

  /** Accepted JWT algorithms (empty when open). */
  get algorithms(): readonly string[] {
    return this.#algorithms
  }

  /**
   * Verifies `token` (signature, `exp` required and in the future, `nbf`, `iss`/`aud` when configured) and reads
   * its `rooms` claim. In open mode every connection gets write access to every room, token or not. The grant's
   * `expiresAt` is `exp` plus the clock tolerance; the caller checks it again when it accepts the connection, since
   * verification is asynchronous (AUTH-7).
   */
  async authenticate(token: string | undefined): Promise<AuthResult> {
    if (!this.#key) return { ok: true, grant: RoomGrant.open() }
    if (!token) return { ok: false, reason: 'no token' }
    let payload: JWTPayload
    try {
      const verifyOptions = {
        algorithms: this.#algorithms,
        requiredClaims: ['exp'],
        clockTolerance: this.#toleranceSeconds,
        ...(this.#options.issuer !== undefined ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience !== undefined ? { audience: this.#options.audience } : {}),
      }
      ;({ payload } = await jwtVerify(token, this.#key, verifyOptions))
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token expired' }
      return { ok: false, reason: err instanceof Error ? `token rejected: ${err.message}` : 'token rejected' }
    }
    const rooms = payload['rooms']
    if (typeof rooms !== 'object' || rooms === null || Array.isArray(rooms)) {
      return { ok: false, reason: 'token has no rooms claim' }
    }
    const grants: Record<string, Exclude<Access, 'none'>> = {}
    for (const [room, access] of Object.entries(rooms)) {
      if (!isAccess(access)) return { ok: false, reason: `invalid access for room ${JSON.stringify(room)}` }
      grants[room] = access
    }
    // AUTH-4: `exp: 1e400` parses to Infinity, which would make a token that never ends.
    if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp))
      return { ok: false, reason: 'token rejected: "exp" is not a finite number' }
    const expiresAt = (payload.exp + this.#toleranceSeconds) * 1000
    return { ok: true, grant: new RoomGrant(grants, expiresAt, payload.sub, payload) }
  }
}
