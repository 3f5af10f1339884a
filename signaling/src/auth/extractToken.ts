import type { IncomingMessage } from 'node:http'

/**
 * Prefix of the WebSocket subprotocol that carries a token: a client that cannot put the token in the URL offers
 * the subprotocol `weft-token.<jwt>` (a JWT only uses characters allowed in a subprotocol name).
 */
export const TOKEN_PROTOCOL_PREFIX = 'weft-token.'

/** Splits a `Sec-WebSocket-Protocol` header into its offered subprotocols. */
export const offeredProtocols = (req: IncomingMessage): string[] =>
  (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)

/** The connection's token: the `token` query parameter, else a `weft-token.` subprotocol, else `undefined`. */
export const extractToken = (url: URL, protocols: readonly string[]): string | undefined => {
  const fromQuery = url.searchParams.get('token')
  if (fromQuery) return fromQuery
  const fromProtocol = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))
  return fromProtocol ? fromProtocol.slice(TOKEN_PROTOCOL_PREFIX.length) : undefined
}

/**
 * The subprotocol the server answers with: the first offered one that is not a token, else the token one itself
 * (a browser fails the handshake if none of its offered subprotocols is echoed), else none.
 */
export const selectProtocol = (protocols: Iterable<string>): string | false => {
  let token: string | false = false
  for (const p of protocols) {
    if (!p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p
    token = token || p
  }
  return token
}
