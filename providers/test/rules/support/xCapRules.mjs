// A rules module for `weft serve --rules` in the rollback crash test: shapes' `x` is at most 100 (no owner rule: the
// test's writers connect without auth). Plain JavaScript, as users write it; the schema is `xCapBoard` of
// xCapBoard.ts.
import { defineSchema, s } from '@weft/core'
import { defineRules } from '@weft/core/rules'

const board = defineSchema({ name: 'xcap', version: 1, root: { shapes: s.collection({ x: s.number() }) } })

export default defineRules(board, { collections: { shapes: { fields: { x: { min: 0, max: 100 } } } } })
