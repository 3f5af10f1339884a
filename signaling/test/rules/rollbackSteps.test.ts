import { afterEach, describe, expect, it } from 'vitest'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import { ruledClient, settled, shapesEverywhere, shapesOf, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

type Client = Awaited<ReturnType<typeof ruledClient>>

/** Alice (the other client) and bob (the writer), with bob's shape `b` (x 1) and alice's locked shape `a`. */
const start = async (room: string) => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  const alice = await ruledClient(r, room, 'alice', cleanups)
  alice.typed.root.shapes.insert({ name: 'a', x: 20, author: 'alice' }, { id: 'a' })
  const bob = await ruledClient(r, room, 'bob', cleanups)
  bob.typed.root.shapes.insert({ name: 'b', x: 1, author: 'bob' }, { id: 'b' })
  await until(bob.doc, () => shapesOf(bob.doc).a?.x === 20)
  await until(alice.doc, () => shapesOf(alice.doc).b?.x === 1)
  await settled(bob.session)
  return { r, alice, bob }
}

/** Takes `bob` offline (its changes wait for its step 2). */
const offline = (bob: Client) => {
  bob.session.removeTransport(bob.transport)
  bob.transport.destroy()
}

/** Brings `bob` back to `room`; resolves with the rule ids of the rejections it got, once it got `count`. */
const reconnect = (r: ReturnType<typeof startRuledRelay>, room: string, bob: Client, count: number) => {
  const ids: string[] = []
  const done = new Promise<string[]>((resolve) =>
    bob.session.on('rejected', (e) => {
      if (ids.push(`${e.ruleId} ${e.path.join('/')}`) === count) resolve(ids)
    }),
  )
  const again = new MemoryRelayTransport(r.connect(room, 'bob'))
  cleanups.push(() => again.destroy())
  bob.session.addTransport(again)
  return { done, again }
}

const shape = (fields: Record<string, unknown>) => ({ label: '', ...fields })
/** Alice's locked shape, as every test leaves it. */
const ALICE_A = shape({ name: 'a', x: 20, author: 'alice' })

/** Once `ready` holds at the writer: the writer, the relay's store and the other client all hold `want`. */
const expectEverywhere = async (
  {
    r,
    room,
    bob,
    alice,
  }: { r: ReturnType<typeof startRuledRelay>; room: string; bob: Client; alice: Client },
  ready: (shapes: ReturnType<typeof shapesOf>) => boolean,
  want: Record<string, unknown>,
) => {
  expect(await shapesEverywhere(r, room, bob, alice.doc, ready)).toEqual({
    writer: want,
    stored: want,
    other: want,
  })
}

describe('a valid value a later refused one overwrote is kept (RULES-5.16)', () => {
  it('RULES-5.16 RULES-5.10: offline, x = 10 then x = -5 (two edits, one step 2): the relay refuses x = -5; the shape goes back to x = 10, which reaches the relay', async () => {
    const room = 'board-steps-1'
    const { r, alice, bob } = await start(room)
    offline(bob)
    bob.typed.root.shapes.update('b', { x: 10, name: 'b2' }) // valid
    bob.typed.root.shapes.update('b', { x: -5 }) // refused: x.min
    const { done, again } = reconnect(r, room, bob, 1)
    expect(await done).toEqual(['shapes.x.min shapes/b/x'])

    await expectEverywhere({ r, room, bob, alice }, (s) => s.b?.x === 10, {
      a: ALICE_A,
      b: shape({ name: 'b2', x: 10, author: 'bob' }),
    })
    expect(again.client.closeInfo).toBeNull()
  })

  it('RULES-5.16: offline, x = 10, then -5, then -6: refused twice, one step back each time, x = 10 reaches the relay', async () => {
    const room = 'board-steps-2'
    const { r, alice, bob } = await start(room)
    offline(bob)
    bob.typed.root.shapes.update('b', { x: 10 })
    bob.typed.root.shapes.update('b', { x: -5 })
    bob.typed.root.shapes.update('b', { x: -6 })
    const { done } = reconnect(r, room, bob, 2)
    expect(await done).toHaveLength(2)
    await expectEverywhere({ r, room, bob, alice }, (s) => s.b?.x === 10, {
      a: ALICE_A,
      b: shape({ name: 'b', x: 10, author: 'bob' }),
    })
  })

  it('RULES-5.16: offline, a new shape (x = 10) then moved to x = -5: the shape stays, at x = 10', async () => {
    const room = 'board-steps-3'
    const { r, alice, bob } = await start(room)
    offline(bob)
    bob.typed.root.shapes.insert({ name: 'c', x: 10, author: 'bob' }, { id: 'c' })
    bob.typed.root.shapes.update('c', { x: -5 })
    const { done } = reconnect(r, room, bob, 1)
    expect(await done).toEqual(['shapes.x.min shapes/c/x'])
    await expectEverywhere({ r, room, bob, alice }, (s) => s.c?.x === 10, {
      a: ALICE_A,
      b: shape({ name: 'b', x: 1, author: 'bob' }),
      c: shape({ name: 'c', x: 10, author: 'bob' }),
    })
  })

  it('RULES-5.16 RULES-5.4: live, an update refused for another record, then x = 10 and x = -5 in flight behind it: x = 10 reaches the relay', async () => {
    const room = 'board-steps-4'
    const { r, alice, bob } = await start(room)
    const ids: string[] = []
    const second = new Promise<void>((resolve) =>
      bob.session.on('rejected', (e) => {
        if (ids.push(`${e.ruleId} ${e.path.join('/')}`) === 2) resolve()
      }),
    )
    // Sent at once, before the relay answers the first: refused (alice's shape), then two updates behind the fence.
    bob.typed.root.shapes.update('a', { x: 30 })
    bob.typed.root.shapes.update('b', { x: 10 })
    bob.typed.root.shapes.update('b', { x: -5 })
    await second
    // The first refusal is alice's shape; the restore re-sends b's two steps, refused for the last one.
    expect(ids).toEqual(['shapes.owner shapes/a', 'shapes.x.min shapes/b/x'])
    await expectEverywhere({ r, room, bob, alice }, (s) => s.b?.x === 10, {
      a: ALICE_A,
      b: shape({ name: 'b', x: 10, author: 'bob' }),
    })
  })

  it('RULES-5.16 RULES-5.13: one edit (one step) that set x = -5 and a name: both go back together, to the previous step of the writer (x = 10)', async () => {
    const room = 'board-steps-5'
    const { r, alice, bob } = await start(room)
    offline(bob)
    bob.typed.root.shapes.update('b', { x: 10 })
    bob.doc.transact(() => bob.typed.root.shapes.update('b', { x: -5, name: 'b3' }))
    const { done } = reconnect(r, room, bob, 1)
    expect(await done).toEqual(['shapes.x.min shapes/b/x'])
    await expectEverywhere({ r, room, bob, alice }, (s) => s.b?.x === 10, {
      a: ALICE_A,
      b: shape({ name: 'b', x: 10, author: 'bob' }),
    })
  })
})
