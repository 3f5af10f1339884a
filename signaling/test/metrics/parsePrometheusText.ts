/** One sample line: `name{labels} value`. */
export interface PromSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** One metric family: its `# HELP`, `# TYPE` and samples. */
export interface PromFamily {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  readonly samples: PromSample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/** A sample value as Prometheus reads it (Go's ParseFloat: numbers, and NaN / Inf in any case). */
const parseValue = (text: string): number => {
  const lower = text.toLowerCase()
  if (lower === 'nan') return NaN
  if (lower === '+inf' || lower === 'inf') return Infinity
  if (lower === '-inf') return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value ${text}`)
  return Number(text)
}

/** The family a sample name belongs to, given the families declared so far. */
const familyOf = (name: string, families: Map<string, PromFamily>): PromFamily | undefined => {
  const exact = families.get(name)
  if (exact) return exact
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const family = families.get(name.slice(0, -suffix.length))
    if (family && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket')))
      return family
  }
  return undefined
}

/** Reads `{a="x",b="y"}` starting at `text[at] === '{'`; returns the labels and the index after `}`. */
const parseLabels = (text: string, at: number): [Record<string, string>, number] => {
  const labels: Record<string, string> = {}
  let i = at + 1
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i)
    const name = text.slice(i, eq)
    if (!LABEL.test(name) || text[eq + 1] !== '"') throw new Error(`bad label at ${text.slice(i)}`)
    if (name in labels) throw new Error(`duplicate label ${name}`)
    let value = ''
    let j = eq + 2
    for (; text[j] !== '"'; j++) {
      if (j >= text.length) throw new Error('unterminated label value')
      if (text[j] !== '\\') {
        value += text[j]
        continue
      }
      const escaped = text[++j]
      if (escaped === 'n') value += '\n'
      else if (escaped === '\\' || escaped === '"') value += escaped
      else throw new Error(`bad escape \\${escaped}`)
    }
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (text[i] !== '}') throw new Error(`expected , or } at ${text.slice(i)}`)
  }
  return [labels, i + 1]
}

/**
 * Parses Prometheus text exposition format 0.0.4 strictly, throwing on anything a Prometheus server would refuse:
 * bad names, labels or values, a TYPE after its samples, a family's samples not together, a second HELP or TYPE,
 * histogram buckets without `le`, decreasing, or without a `+Inf` bucket equal to `_count`.
 */
export const parsePrometheusText = (text: string): Map<string, PromFamily> => {
  if (!text.endsWith('\n')) throw new Error('the text must end with a line feed')
  const families = new Map<string, PromFamily>()
  const closed = new Set<string>()
  let current: PromFamily | undefined
  const declare = (name: string): PromFamily => {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`)
    let family = families.get(name)
    if (!family) {
      if (current) closed.add(current.name)
      family = { name, help: '', type: 'untyped', samples: [] }
      families.set(name, family)
      current = family
    }
    if (family !== current || family.samples.length > 0)
      throw new Error(`${name}: HELP/TYPE after its samples`)
    return family
  }
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.trim() === '') continue
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (meta) {
      const [, kind, name = '', rest = ''] = meta
      const family = declare(name) as { -readonly [K in keyof PromFamily]: PromFamily[K] }
      if (kind === 'TYPE') {
        if (!TYPES.has(rest) || family.type !== 'untyped') throw new Error(`bad or second TYPE for ${name}`)
        family.type = rest as PromFamily['type']
      } else {
        if (family.help !== '') throw new Error(`second HELP for ${name}`)
        family.help = rest
      }
      continue
    }
    if (line.startsWith('#')) continue
    const nameEnd = line.search(/[{ ]/)
    const name = line.slice(0, nameEnd)
    if (!NAME.test(name)) throw new Error(`bad sample line ${line}`)
    let [labels, i]: [Record<string, string>, number] = [{}, nameEnd]
    if (line[nameEnd] === '{') [labels, i] = parseLabels(line, nameEnd)
    const fields = line.slice(i).trim().split(' ')
    if (line[i] !== ' ' || fields.length < 1 || fields.length > 2) throw new Error(`bad sample line ${line}`)
    const value = parseValue(fields[0] ?? '')
    let family = familyOf(name, families)
    if (!family) family = declare(name)
    if (family !== current || closed.has(family.name))
      throw new Error(`${name}: samples of a family not together`)
    family.samples.push({ name, labels, value })
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family)
  return families
}

const checkHistogram = (family: PromFamily): void => {
  const key = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    )
  const series = new Map<string, { bounds: number[]; counts: number[]; count?: number }>()
  for (const s of family.samples) {
    const entry = series.get(key(s.labels)) ?? { bounds: [], counts: [] }
    series.set(key(s.labels), entry)
    if (s.name.endsWith('_bucket')) {
      const le = s.labels['le']
      if (le === undefined) throw new Error(`${family.name}: bucket without le`)
      entry.bounds.push(parseValue(le))
      entry.counts.push(s.value)
    } else if (s.name.endsWith('_count')) entry.count = s.value
  }
  for (const { bounds, counts, count } of series.values()) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] ?? 0) > (bounds[i - 1] ?? 0)) || (counts[i] ?? 0) < (counts[i - 1] ?? 0))
        throw new Error(`${family.name}: buckets not increasing`)
    }
    if (bounds.at(-1) !== Infinity || counts.at(-1) !== count)
      throw new Error(`${family.name}: +Inf bucket missing or not equal to _count`)
  }
}
