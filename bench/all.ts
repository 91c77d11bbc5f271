/**
 * `npm run bench`: every benchmark in turn, each printing its own tables with the details, then
 * one table of the figures issue 13 asks for, all measured in this run, beside their targets
 * (each bench adds its lines through `addToSummary`, bench/common.ts). A bench that fails (one
 * whose load met an answer other than 2xx, say) does not stop the others: the run ends with its
 * name and exits non-zero.
 *
 *   npm run bench
 *   BENCH_SECONDS=3 BENCH_EVENTS=100000 npm run bench    # shorter (each bench's knobs apply)
 *   BENCH_RUN=http,rebuild npm run bench                 # only those
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { summaryTable } from './common.js'

const ALL = ['http', 'store', 'rebuild', 'audit', 'reports', 'year-close']
const chosen = process.env.BENCH_RUN?.split(',').filter((name) => name !== '')
const unknown = chosen?.filter((name) => !ALL.includes(name)) ?? []
if (unknown.length > 0) throw new Error(`BENCH_RUN names no bench: ${unknown.join(', ')} (there are ${ALL.join(', ')})`)
const BENCHES = chosen ?? ALL
const here = dirname(fileURLToPath(import.meta.url))
const directory = mkdtempSync(join(tmpdir(), 'sojus-bench-'))
const file = join(directory, 'summary.jsonl')
const failed: string[] = []
for (const name of BENCHES) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`)], {
    stdio: 'inherit',
    // The rebuild and the cold start run the service compiled, as `npm start` does, unless told otherwise.
    env: { BENCH_RUNTIME: 'dist', ...process.env, BENCH_SUMMARY: file },
  })
  if (run.status !== 0) failed.push(`bench/${name}.ts ${run.signal ? `was killed by ${run.signal}` : `exited with ${run.status}`}`)
}
process.stdout.write(`\nAll in one run (${new Date().toISOString()}, node ${process.version}):\n\n${summaryTable(file)}\n`)
rmSync(directory, { recursive: true, force: true })
if (failed.length > 0) {
  process.stderr.write(`${failed.join('; ')}: see its output above\n`)
  process.exitCode = 1
}
