import { defineSchema, s } from '@weft/core'

/** The schema of `xCapRules.mjs` (shapes with a number `x`, which the rules cap at 100). */
export const xCapBoard = defineSchema({
  name: 'xcap',
  version: 1,
  root: { shapes: s.collection({ x: s.number() }) },
})
