import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import {
  startPostgres,
  startRedis,
  type PostgresService,
  type RedisService,
} from '../scaleout/startServices.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

// Two `weft serve` processes on one Redis and one PostgreSQL, a workspace client on each; one node is killed
// (SIGKILL) and its client catches up on the other node from its cursor. Rules: WS-WIRE-4, WS-RELAY-6, WS-REL-2.

let redis: RedisService
let postgres: PostgresService
const procs: WeftProcess[] = []
const clients: WorkspaceTestClient[] = []

const startNode = async (): Promise<string> => {
  const p = spawnWeft(['serve', '--port', '0', '--redis', redis.url, '--postgres', postgres.url])
  procs.push(p)
  return `ws://127.0.0.1:${await listening(p)}`
}

const open = async (base: string): Promise<WorkspaceTestClient> => {
  const c = await WorkspaceTestClient.open(`${base}/workspace/team`)
  clients.push(c)
  return c
}

beforeAll(async () => {
  redis = await startRedis()
  postgres = await startPostgres()
}, 40_000)

afterAll(async () => {
  for (const c of clients) c.ws.terminate()
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
  await Promise.all([redis?.stop(), postgres?.stop()])
}, 30_000)

/** The seqs of every CHANGED a client received. */
const pushed = (c: WorkspaceTestClient): number[] =>
  c.frames.flatMap((r) => (r.frame.kind === 'changed' ? [r.frame.seq] : []))

/** The highest `c` such that every number 1..c was received (the cursor a client may store). */
const contiguous = (seqs: readonly number[]): number => {
  const have = new Set(seqs)
  let c = 0
  while (have.has(c + 1)) c++
  return c
}

/** Sends CATCH_UP and collects every page of the answer. */
const catchUp = async (c: WorkspaceTestClient, cursor: number) => {
  const from = c.frames.length
  c.catchUp(cursor, 3)
  const docs: Array<{ doc: string; seq: number }> = []
  for (let at = from; ;) {
    const page = await c.next((f) => f.kind === 'changes', at)
    at = page.index + 1
    if (page.frame.kind !== 'changes') continue
    docs.push(...page.frame.changes)
    if (!page.frame.more) return { docs, through: page.frame.through }
  }
}

describe('workspace clients across two weft serve nodes (PostgreSQL + Redis)', { timeout: 60_000 }, () => {
  it('WS-WIRE-4, WS-RELAY-6, WS-REL-2: one node killed, its client catches up on the other from its cursor; the sequence is gap-free across nodes', async () => {
    const [base1, base2] = await Promise.all([startNode(), startNode()])
    const c1 = await open(base1)
    const c2 = await open(base2)
    for (const c of [c1, c2]) await catchUp(c, 0)

    // Edits through both nodes, interleaved.
    const docs = Array.from({ length: 10 }, (_, i) => `d${i}`)
    for (const [i, d] of docs.entries()) {
      const c = i % 2 === 0 ? c1 : c2
      const ydoc = c.subscribe(d)
      await c.synced(d)
      ydoc.getText('t').insert(0, `${d} via node ${i % 2 === 0 ? 1 : 2}`)
      await c1.next((f) => f.kind === 'changed' && f.doc === d)
      await c2.next((f) => f.kind === 'changed' && f.doc === d)
    }
    // Every stored change of either node reached both sockets, numbered 1..n without a gap or a repeat.
    for (const c of [c1, c2]) {
      const seqs = pushed(c)
      expect(new Set(seqs).size).toBe(seqs.length)
      expect(contiguous(seqs)).toBe(Math.max(...seqs))
    }
    const cursor = contiguous(pushed(c1))
    expect(contiguous(pushed(c2))).toBe(cursor)

    // Node 1 dies; meanwhile node 2 stores changes of d1 and d3.
    procs[0]!.child.kill('SIGKILL')
    await c1.closed
    for (const d of ['d1', 'd3']) {
      c2.docs.get(d)!.getText('t').insert(0, 'later ')
      await c2.next((f) => f.kind === 'changed' && f.doc === d && f.seq > cursor)
    }
    const newest = Math.max(...pushed(c2))

    // c1's successor on node 2, from c1's cursor: exactly the two documents, numbered after the cursor.
    const again = await open(base2)
    const answer = await catchUp(again, cursor)
    expect(answer.docs.map((c) => c.doc).sort()).toEqual(['d1', 'd3'])
    expect(answer.docs.every((c) => c.seq > cursor)).toBe(true)
    expect(answer.through).toBe(newest)
    expect(contiguous([...pushed(c1), ...answer.docs.map((c) => c.seq)])).toBe(
      Math.max(...answer.docs.map((c) => c.seq)),
    )
    // And the documents themselves: everything either node acknowledged.
    for (const [i, d] of docs.entries()) {
      again.subscribe(d)
      await again.text(d, `${d === 'd1' || d === 'd3' ? 'later ' : ''}${d} via node ${i % 2 === 0 ? 1 : 2}`)
    }
  })
})
