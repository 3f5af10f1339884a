import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWeftServer, type WeftServer } from '../integration/support/weftServer.js'
import { notesApp } from './guide.snippet.js'

// The notes app of docs/guides/workspaces.md, as the guide shows it, against a real `weft serve`: three runs (two
// devices' SQLite files) meet through the relay's multiplexed endpoint.

let server: WeftServer
let dir: string
beforeAll(async () => {
  server = await startWeftServer()
  dir = await mkdtemp(join(tmpdir(), 'weft-ws-guide-'))
})
afterAll(async () => {
  await server?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('workspaces guide', () => {
  it('WS-CLIENT-7.1: the guide’s notes app: each device sees the notes of the others in its list', async () => {
    const url = `ws://127.0.0.1:${server.port}`
    expect(await notesApp(url, join(dir, 'a.sqlite'), 'from a')).toEqual(['from a'])
    expect((await notesApp(url, join(dir, 'b.sqlite'), 'from b')).sort()).toEqual(['from a', 'from b'])
    expect((await notesApp(url, join(dir, 'a.sqlite'), 'again')).sort()).toEqual([
      'again',
      'from a',
      'from b',
    ])
  })
})
