#!/usr/bin/env node
// `npm run api-report [-- --check]`: the API report of every public entry point (each package's root and subpaths),
// written by API Extractor from the built declarations (run `npm run build` first) into api/*.api.md. The reports are
// checked in, so a change of the public API shows in the diff of the commit that makes it. With `--check` (CI) it
// only compares: a report that differs from what is checked in fails, naming the file, and nothing is written.
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const check = process.argv.includes('--check')
const PACKAGES = ['core', 'sqlite-store', 'providers', 'signaling']

/** Every entry point of `dir`'s package.json `exports`: its import name, its built declaration file. */
const entryPoints = (dir) => {
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
  return Object.entries(pkg.exports).map(([subpath, target]) => ({
    name: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
    dts: join(root, dir, target.types),
    packageJson: join(root, dir, 'package.json'),
    projectFolder: join(root, dir),
  }))
}

const reportFolder = join(root, 'api')
const tempFolder = join(root, 'node_modules', '.cache', 'api-report')
mkdirSync(tempFolder, { recursive: true })
mkdirSync(reportFolder, { recursive: true })
const problems = []
for (const entry of PACKAGES.flatMap(entryPoints)) {
  if (!existsSync(entry.dts)) {
    problems.push(`${entry.name}: ${entry.dts} is missing (run npm run build first)`)
    continue
  }
  const reportFileName = entry.name.replace(/^@weft\//, '').replaceAll('/', '-')
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: entry.projectFolder,
      mainEntryPointFilePath: entry.dts,
      compiler: { tsconfigFilePath: join(entry.projectFolder, 'tsconfig.json'), skipLibCheck: true },
      apiReport: { enabled: true, reportFolder, reportTempFolder: tempFolder, reportFileName },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          // Release tags (@public/@beta) are not used: what an index exports is the public API.
          'ae-missing-release-tag': { logLevel: 'none' },
          // A type used by the API but not exported under its own name is listed in the report instead.
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
          // Documentation is checked by typedoc (`npm run docs`), whose link syntax differs from TSDoc's.
          'ae-undocumented': { logLevel: 'none' },
          'ae-unresolved-link': { logLevel: 'none' },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: entry.packageJson,
  })
  const result = Extractor.invoke(config, {
    localBuild: !check,
    messageCallback: (message) => {
      // The TypeScript version notice is noise here; everything else is reported once, below.
      // Console notices (the TypeScript version, "report created/changed") are summed up by the line printed below.
      if (String(message.messageId).startsWith('console-')) message.logLevel = ExtractorLogLevel.None
      if (message.logLevel === ExtractorLogLevel.Warning || message.logLevel === ExtractorLogLevel.Error) {
        problems.push(`${entry.name}: ${message.text}`)
        message.handled = true
      } else message.logLevel = ExtractorLogLevel.None
    },
  })
  if (check && result.apiReportChanged) {
    problems.push(
      `${entry.name}: the public API changed; run \`npm run api-report\` and commit api/${reportFileName}.api.md`,
    )
  }
  console.log(`${entry.name}: ${result.apiReportChanged ? (check ? 'CHANGED' : 'updated') : 'unchanged'}`)
}
if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
