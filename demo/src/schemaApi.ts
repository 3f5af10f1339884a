/** The schema layer, from `@weft/core`. Everything in the demo imports the schema API from here. */
export * from '@weft/core'
