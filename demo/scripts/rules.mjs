// `weft serve --rules demo/scripts/rules.mjs` (npm start passes it): the demo's rules, demo/src/board/boardRules.ts,
// the module the page imports too. The demo's schema is TypeScript and `weft serve` runs plain Node (the built CLI)
// in CI, so this entry registers tsx first; an app whose rules module is JavaScript (or compiled) passes it directly.
import { register } from 'tsx/esm/api'

register()
const { rulesForRoom } = await import('../src/board/boardRules.ts')

export default rulesForRoom
