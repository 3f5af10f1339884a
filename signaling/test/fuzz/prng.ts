/** The fuzzers' seeded generator: `@weft/core/testing`'s, under the short names the WebSocket fuzz uses. */
export { seededRandom as prng, randomInt as int, randomPick as pick, type Rand } from '@weft/core/testing'
