import type { RulesVerdict } from '../schema/rules.js'
import type { PathSegment } from '../schema/types.js'

/** A refusal of rule `ruleId` at `path`, saying `reason` (RULES-1.3): the one way rules say no. */
export const refuse = (ruleId: string, path: readonly PathSegment[], reason: string): RulesVerdict => ({
  ok: false,
  ruleId,
  path,
  reason,
})
