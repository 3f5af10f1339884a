import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// Real mDNS (bonjour-service) between two peer processes, each in its own network namespace, joined by a veth pair
// (10.231.0.1/24 <-> 10.231.0.2/24). Multicast never leaves the namespaces: the peers' only interfaces are the veth
// ends and their own loopback. The namespaces are created and removed by this file. Rule ids: docs/guides/lan.md.

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PEER = fileURLToPath(new URL('./support/lanPeer.ts', import.meta.url))
const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' })

const id = process.pid
const NS = { a: `weft-lan-${id}-a`, b: `weft-lan-${id}-b` } as const
const VETH = { a: `wla${id}`, b: `wlb${id}` } as const
const ADDR = { a: '10.231.0.1', b: '10.231.0.2' } as const

/** Why this machine cannot run the test, or null. Only "not root" and "no usable `ip netns`" skip it. */
const skipReason = ((): string | null => {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces'
  const probe = `weft-lan-probe-${id}`
  const added = ip('netns', 'add', probe)
  if (added.error || added.status !== 0) {
    return `\`ip netns\` is unavailable: ${added.error?.message ?? added.stderr.trim()}`
  }
  ip('netns', 'del', probe)
  return null
})()
if (skipReason !== null) console.warn(`LanTransport.netns.test.ts skipped: ${skipReason}`)

const must = (...args: string[]): void => {
  const r = ip(...args)
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`)
}

interface Line {
  readonly event: string
  readonly [key: string]: unknown
}

/** One peer process inside a namespace, with its stdout read as JSON lines. */
class Peer {
  readonly child: ChildProcess
  readonly lines: Line[] = []
  readonly output: string[] = []
  readonly #waiters = new Set<() => void>()

  constructor(ns: string, options: Record<string, unknown>) {
    this.child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        '--conditions=source',
        '--import',
        'tsx',
        PEER,
        JSON.stringify(options),
      ],
      { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
    )
    createInterface({ input: this.child.stdout! }).on('line', (raw) => {
      this.output.push(raw)
      try {
        this.lines.push(JSON.parse(raw) as Line)
      } catch {
        return
      }
      for (const w of [...this.#waiters]) w()
    })
    this.child.stderr!.on('data', (d: Buffer) => this.output.push(`stderr: ${d.toString().trimEnd()}`))
  }

  /** Resolves with the first line (already seen, or to come) that matches; rejects after `ms` with the output so far. */
  waitFor(what: string, match: (l: Line) => boolean, ms = 15_000, from = 0): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.lines.slice(from).find(match)
        if (!hit) return
        this.#waiters.delete(check)
        clearTimeout(timer)
        resolve(hit)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(check)
        reject(new Error(`timed out waiting for ${what}; output:\n${this.output.join('\n')}`))
      }, ms)
      this.#waiters.add(check)
      check()
    })
  }

  command(line: string): void {
    this.child.stdin!.write(`${line}\n`)
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}

describe('LanTransport over real mDNS between network namespaces', () => {
  let a: Peer | undefined
  let b: Peer | undefined

  beforeAll(() => {
    if (skipReason !== null) return
    must('netns', 'add', NS.a)
    must('netns', 'add', NS.b)
    must('link', 'add', VETH.a, 'netns', NS.a, 'type', 'veth', 'peer', 'name', VETH.b, 'netns', NS.b)
    for (const side of ['a', 'b'] as const) {
      must('-n', NS[side], 'addr', 'add', `${ADDR[side]}/24`, 'dev', VETH[side])
      must('-n', NS[side], 'link', 'set', VETH[side], 'up')
      must('-n', NS[side], 'link', 'set', 'lo', 'up')
    }
    const common = {
      room: `lan-netns-${id}`,
      secret: 'netns secret, twenty characters or more',
      expect: ['alpha', 'beta'],
    }
    a = new Peer(NS.a, { ...common, peerId: 'peer-a', host: ADDR.a, word: 'alpha' })
    b = new Peer(NS.b, { ...common, peerId: 'peer-b', host: ADDR.b, word: 'beta' })
  })

  afterAll(async () => {
    if (skipReason !== null) return
    await Promise.all([a?.kill(), b?.kill()])
    // Deleting a namespace deletes its veth end, and with it the pair.
    ip('netns', 'del', NS.a)
    ip('netns', 'del', NS.b)
    expect(ip('netns', 'list').stdout).not.toContain(`weft-lan-${id}-`)
  })

  it.skipIf(skipReason !== null)(
    `PROV-6.8 two peers in two namespaces find each other over mDNS, connect, and converge${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    async () => {
      const [pa, pb] = [a!, b!]
      await Promise.all([
        pa.waitFor('a to join b', (l) => l.event === 'joined' && l['remote'] === 'peer-b'),
        pb.waitFor('b to join a', (l) => l.event === 'joined' && l['remote'] === 'peer-a'),
      ])
      const [ca, cb] = await Promise.all([
        pa.waitFor('a to converge', (l) => l.event === 'converged'),
        pb.waitFor('b to converge', (l) => l.event === 'converged'),
      ])
      expect(ca['text']).toBe(cb['text'])
      expect(String(ca['text'])).toMatch(/alpha/)
      expect(String(ca['text'])).toMatch(/beta/)
      for (const p of [pa, pb]) expect(p.lines.filter((l) => l.event === 'error')).toEqual([])
    },
  )

  it.skipIf(skipReason !== null)(
    `PROV-6.9 a peer cut off the network leaves within peerTimeout; it rejoins and syncs once the link is back${skipReason ? ` (skipped: ${skipReason})` : ''}`,
    async () => {
      const [pa, pb] = [a!, b!]
      const [fromA, fromB] = [pa.lines.length, pb.lines.length]
      // Pull the cable: no FIN, no goodbye packet. Only heartbeats can tell (peerTimeout is 1500 ms in lanPeer.ts).
      must('-n', NS.b, 'link', 'set', VETH.b, 'down')
      const cut = Date.now()
      const [leftA, leftB] = await Promise.all([
        pa.waitFor('a to drop b', (l) => l.event === 'left' && l['remote'] === 'peer-b', 6_000, fromA),
        pb.waitFor('b to drop a', (l) => l.event === 'left' && l['remote'] === 'peer-a', 6_000, fromB),
      ])
      expect(Date.now() - cut).toBeLessThan(4_000)
      expect(String(leftA['reason'])).toMatch(/heartbeat/)
      expect(String(leftB['reason'])).toMatch(/heartbeat/)
      pb.command('append  (edited while cut off)')
      await pb.waitFor(
        'b to edit',
        (l) => l.event === 'text' && String(l['text']).includes('cut off'),
        5_000,
        fromB,
      )
      must('-n', NS.b, 'link', 'set', VETH.b, 'up')
      await Promise.all([
        pa.waitFor('a to rejoin b', (l) => l.event === 'joined' && l['remote'] === 'peer-b', 10_000, fromA),
        pb.waitFor('b to rejoin a', (l) => l.event === 'joined' && l['remote'] === 'peer-a', 10_000, fromB),
      ])
      await pa.waitFor(
        'the offline edit to reach a',
        (l) => l.event === 'text' && String(l['text']).includes('cut off'),
        5_000,
        fromA,
      )
      // A graceful stop: b withdraws its advertisement and closes; a sees it leave.
      const beforeQuit = pa.lines.length
      pb.command('quit')
      await pb.waitFor('b to stop', (l) => l.event === 'stopped')
      await pa.waitFor(
        'a to see b leave',
        (l) => l.event === 'left' && l['remote'] === 'peer-b',
        5_000,
        beforeQuit,
      )
      for (const p of [pa, pb]) expect(p.lines.filter((l) => l.event === 'error')).toEqual([])
    },
  )
})
