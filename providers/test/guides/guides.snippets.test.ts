import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { nodePeer } from './nodePeer.snippet.js'

// The Node peer of docs/guides/getting-started.md ("Add Weft to an existing app"), exactly as the guide shows it,
// against a real `weft serve`: two runs of it (two processes' worth of state: two SQLite files) meet through the
// relay.

let server: WeftServer
let dir: string
beforeAll(async () => {
  server = await startWeftServer()
  dir = await mkdtemp(join(tmpdir(), 'weft-guide-'))
})
afterAll(async () => {
  await server?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('guide snippets', { timeout: 30_000 }, () => {
  it('PROV-5.11 the getting-started Node peer: whenSynced, an edit, whenSaved; a second peer finds it through the relay', async () => {
    expect(await nodePeer(server.relayUrl, join(dir, 'a.sqlite'), 'from a')).toBe('from a\n')
    expect(await nodePeer(server.relayUrl, join(dir, 'b.sqlite'), 'from b')).toBe('from a\nfrom b\n')
    // The first peer's own file still holds what it wrote; reopened, it catches up on b's line.
    expect(await nodePeer(server.relayUrl, join(dir, 'a.sqlite'), 'again')).toBe('from a\nfrom b\nagain\n')
  })
})
