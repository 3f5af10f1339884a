// Runs in Chromium on real IndexedDB: two IndexedDbDocStore connections to one database (two tabs) append,
// compact and remove in turn; each one's remembered clock is checked inside its write transaction, so a stale one
// aborts before committing and is written again. Reports the clocks and the stored tails on window.result.
import { docId } from '@weft/core'
import { IndexedDbDocStore } from '@weft/providers/indexeddb'

const A = docId('a')
const bytes = (v: number): Uint8Array => Uint8Array.of(v)
const tail = async (store: IndexedDbDocStore): Promise<number[]> =>
  ((await store.load(A))?.updates ?? []).map((u) => u[0] ?? -1)

const run = async () => {
  const name = `e2e-tabs-${Date.now()}`
  const one = new IndexedDbDocStore({ name })
  const two = new IndexedDbDocStore({ name })
  await one.load(A)
  await two.load(A)
  const turns: number[] = []
  for (let i = 0; i < 6; i++) turns.push(await (i % 3 === 0 ? one : two).append(A, bytes(i)))
  const afterTurns = await tail(one)
  const compacted = (await two.compact(A, bytes(50), 6)).ok
  // Both connections in one tick: which commits first is up to IndexedDB; each keeps its call order.
  const burst = await Promise.all([one.append(A, bytes(7)), one.append(A, bytes(8)), two.append(A, bytes(9))])
  const byClock = [7, 8, 9].map((v, i) => [burst[i] ?? 0, v] as const).sort((x, y) => x[0] - y[0])
  const burstOk =
    (burst[0] ?? 0) < (burst[1] ?? 0) &&
    JSON.stringify(byClock.map(([c]) => c)) === '[7,8,9]' &&
    JSON.stringify(await tail(two)) === JSON.stringify(byClock.map(([, v]) => v))
  await two.remove(A)
  const afterRemove = [await one.append(A, bytes(10)), await two.append(A, bytes(11))]
  const final = await tail(one)
  await one.close()
  await two.close()
  return { turns, afterTurns, compacted, burstOk, afterRemove, final }
}

run().then(
  (result) => ((window as unknown as { result: unknown }).result = result),
  (err: unknown) => ((window as unknown as { result: unknown }).result = { error: String(err) }),
)
