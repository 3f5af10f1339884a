import { describe, expect, it } from 'vitest'
import { FALLBACK_COLOR, MAX_NAME_LENGTH, presenceColor, presenceName } from '../src/ui/presenceFields.js'

describe('demo presence fields from other peers (issue 17 item 7)', () => {
  it('a colour is a hex colour or the fallback: no CSS text gets through', () => {
    for (const ok of ['#fff', '#FFFA', '#e53935', '#e5393533']) expect(presenceColor(ok)).toBe(ok)
    for (const bad of [
      'red;background-image:url(https://evil.example/x)',
      '#fff;position:fixed',
      'url(x)',
      'expression(alert(1))',
      '#12345',
      '',
      42,
      null,
      { toString: () => '#fff' },
    ])
      expect(presenceColor(bad)).toBe(FALLBACK_COLOR)
  })

  it('a name is plain text of bounded length', () => {
    expect(presenceName('Ada')).toBe('Ada')
    expect(presenceName('A\u0000d\u001ba')).toBe('Ada')
    expect(presenceName('x'.repeat(10_000))).toHaveLength(MAX_NAME_LENGTH)
    expect(presenceName(undefined)).toBe('anonymous')
    expect(presenceName('   ')).toBe('anonymous')
  })
})
