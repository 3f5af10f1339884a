/**
 * Bundles a browser entry (TypeScript, importing @weft/* from source) with esbuild, for pages that the browser
 * tests load. Uses the `source` export condition, like the unit tests.
 */
import { build } from 'esbuild'

export const bundle = async (entry: string): Promise<string> => {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['source', 'browser'],
    write: false,
    target: 'es2022',
    logLevel: 'silent',
  })
  const file = result.outputFiles[0]
  if (!file) throw new Error(`esbuild produced nothing for ${entry}`)
  return file.text
}
