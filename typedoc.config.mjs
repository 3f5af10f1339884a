// typedoc (`npm run docs`): the API reference of every public entry point, read from each package's `exports` (the
// `source` condition), so a new subpath is documented without touching this file. Output: api-docs/ (not committed).
import { readFileSync } from 'node:fs'

const PACKAGES = ['core', 'sqlite-store', 'providers', 'signaling']
const entryPoints = PACKAGES.flatMap((dir) => {
  const pkg = JSON.parse(readFileSync(new URL(`./${dir}/package.json`, import.meta.url), 'utf8'))
  return Object.values(pkg.exports).map((target) => `${dir}/${target.source.replace(/^\.\//, '')}`)
})

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'Weft API reference',
  tsconfig: 'tsconfig.docs.json',
  entryPoints,
  out: 'api-docs',
  excludePrivate: true,
  excludeInternal: true,
  readme: 'none',
  disableGit: true,
  sourceLinkTemplate: 'https://github.com/weft-dev/weft/blob/main/{path}#L{line}',
  validation: { notExported: true, invalidLink: true, notDocumented: true },
}
