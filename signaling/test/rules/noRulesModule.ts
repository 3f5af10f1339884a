/** A module `weft serve --rules` refuses: it exports no rules. */
export default { shapes: 'not rules' }
