/** A rules module as `weft serve --rules` loads it: its default export is the rules of every room. */
import { boardRules } from './relayRules.js'

export default boardRules
