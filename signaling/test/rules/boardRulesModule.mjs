// A rules module as users write it for `weft serve --rules` (plain JavaScript, so it loads in the built CLI too): its
// default export is the rules of every room. The same schema and rules as `boardRules` in relayRules.ts.
import { defineSchema, s } from '@weft/core'
import { defineRules, unique } from '@weft/core/rules'

const board = defineSchema({
  name: 'board',
  version: 1,
  root: {
    shapes: s.collection({ name: s.string(), x: s.number(), author: s.string(), label: s.text() }),
  },
})

export default defineRules(board, {
  collections: { shapes: { owner: 'author', fields: { x: { min: 0, max: 100 }, label: { maxLength: 10 } } } },
  constraints: [unique('shapes', 'name')],
})
