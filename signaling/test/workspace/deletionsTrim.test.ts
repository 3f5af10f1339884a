import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import {
  DELETIONS_MATCHED_UPDATE,
  decodeMessage,
  deletionsDigest,
  readDeletions,
  type WorkspaceFrame,
} from '@weft/core/protocol'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const open = async (): Promise<WorkspaceTestClient> => {
  const client = await WorkspaceTestClient.open(`${srv?.ws}/workspace/team`)
  clients.push(client)
  return client
}

/** The digest of the deletions `doc` holds. */
const digestOf = (doc: Y.Doc): Uint8Array => {
  const read = readDeletions(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))
  if (!read) throw new Error('undecodable')
  return deletionsDigest(read.deletions)
}

/** The update of the relay's step 2 for `doc` on `client`. */
const stepTwo = async (client: WorkspaceTestClient, doc: string): Promise<Uint8Array> => {
  const { frame } = await client.next(
    (f: WorkspaceFrame) =>
      f.kind === 'doc' && f.doc === doc && decodeMessage(f.message).type === 'sync-step2',
  )
  const message = frame.kind === 'doc' ? decodeMessage(frame.message) : null
  if (message?.type !== 'sync-step2') throw new Error('not a step 2')
  return message.update
}

describe('SUBSCRIBE with the digest of the client deletions', () => {
  it('WS-WIRE-6: the relay step 2 says the client holds its deletions instead of sending them, and only then', async () => {
    srv = await startTestServer()
    const seed = new Y.Doc()
    seed.getText('t').insert(0, 'hello brave world')
    seed.getText('t').delete(5, 6)
    const clock = await srv.store.append(docId('team/doc'), Y.encodeStateAsUpdate(seed))
    await srv.store.compact(docId('team/doc'), Y.encodeStateAsUpdateV2(seed), clock)

    // Up to date: the answer is the empty update, not the delete set.
    const upToDate = await open()
    const same = new Y.Doc()
    Y.applyUpdate(same, Y.encodeStateAsUpdate(seed))
    upToDate.docs.set('doc', same)
    upToDate.subscribe('doc', undefined, digestOf(same))
    expect(Array.from(await stepTwo(upToDate, 'doc'))).toEqual(Array.from(DELETIONS_MATCHED_UPDATE))
    expect(same.getText('t').toString()).toBe('hello world')

    // Another set of deletions (it lacks one): the whole delete set comes.
    const behind = await open()
    const older = new Y.Doc()
    Y.applyUpdate(older, Y.encodeStateAsUpdate(seed))
    behind.docs.set('doc', older)
    const fewer = new Y.Doc()
    fewer.getText('t').insert(0, 'x')
    fewer.getText('t').delete(0, 1)
    behind.subscribe('doc', undefined, digestOf(fewer))
    const full = await stepTwo(behind, 'doc')
    expect(readDeletions(full)?.deletions.size).toBe(1)

    // The right digest but missing structs: the step 2 carries them (and is not trimmed).
    const fresh = await open()
    const empty = new Y.Doc()
    fresh.docs.set('doc', empty)
    fresh.subscribe('doc', undefined, digestOf(same))
    await stepTwo(fresh, 'doc')
    expect(empty.getText('t').toString()).toBe('hello world')
  })
})
