// The rules of every room for the scale-out rules test (`weft serve --rules`): one collection constraint and no owner,
// so that stock clients without tokens can write.
import { defineSchema, s } from '@weft/core'
import { defineRules, unique } from '@weft/core/rules'

const board = defineSchema({
  name: 'board',
  version: 1,
  root: { shapes: s.collection({ name: s.string(), x: s.number() }) },
})

export default defineRules(board, { constraints: [unique('shapes', 'name')] })
